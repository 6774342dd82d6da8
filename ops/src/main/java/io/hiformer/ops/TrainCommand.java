package io.hiformer.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.training.Adam;
import io.hiformer.training.TrainJob;
import io.hiformer.training.TrainingFailedException;
import io.hiformer.training.Trainer;
import io.hiformer.training.TrainingBackend;
import io.hiformer.training.TrainingRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hiformer train}: fit transforms, train with early stopping, publish or write the model. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Trains a Hiformer from data files or from the examples topic and writes or publishes it.",
        "From files: fits the schema's feature transforms on the training files, trains with early stopping on",
        "validation AUC, reports validation (and test) AUC and log loss per task, and writes the model file (--out)",
        "or publishes a new version to a registry (--registry, --name). Data files are CSV, TSV or libFM",
        "(optionally .gz), chosen by extension, relative to --data-dir.",
        "From the examples topic (--examples-topic, --bootstrap-servers): trains on the inputs exactly as served,",
        "[--from, --valid-from) for training and [--valid-from, --to) for early stopping; config and transforms",
        "are those of the --base version of --name in --registry (shape options do not apply), except that",
        "open fields (schema 'open: true') grow their vocabularies over the training range first.",
        "With --bootstrap-servers and --registry, the published version is announced on the models topic.",
        "With --follow: trains without end on --examples-topic, checkpoints weights, optimiser state and offsets",
        "together (--checkpoint-dir, resumed after a restart), publishes a version every --publish-every, gates it",
        "against the --alias version on a held-out slice of the stream (--require, as evaluate) and moves the alias",
        "only when every gate passes; metrics on --metrics-port. SIGTERM stops it after a last checkpoint.",
        "Nothing is written or published unless some epoch beat the initial model's validation AUC (epoch 0);",
        "a run that diverges (non-finite loss, gradient or weight, or validation log loss above 10 times the",
        "initial model's) stops. Both exit 1; bad options, data or outputs (checked before training) exit 2."})
final class TrainCommand implements Callable<Integer> {

  @Option(names = "--schema", description = "feature schema (YAML); for training from files")
  Path schema;

  @Option(names = "--data-dir", defaultValue = ".", description = "directory of the data files and joined tables (default: ${DEFAULT-VALUE})")
  Path dataDir;

  @Option(names = "--train", split = ",", description = "training files")
  List<String> train = List.of();

  @Option(names = "--valid", split = ",", description = "validation files (early stopping)")
  List<String> valid = List.of();

  @Option(names = "--test", split = ",", description = "test files, scored once with the best epoch")
  List<String> test = List.of();

  @Option(names = "--name", defaultValue = "model", description = "model name (default: ${DEFAULT-VALUE})")
  String name;

  @Option(names = "--out", description = "write the model file here")
  Path out;

  @Option(names = "--registry", description = "publish a new version into this registry directory")
  Path registry;

  @Option(names = "--report-json", description = "write the final metrics and history here")
  Path reportJson;

  @Option(names = "--examples-topic", paramLabel = "TOPIC",
      description = "train from this topic of TrainingExamples (the joiner's, e.g. hiformer.examples)")
  String examplesTopic;

  @Option(names = "--from", defaultValue = "beginning", paramLabel = "BOUND",
      description = "start of the training range: beginning, end, a time (2025-03-01T00:00:00Z) or offsets"
          + " per partition (0:1200,1:1185) (default: ${DEFAULT-VALUE})")
  String from;

  @Option(names = "--valid-from", paramLabel = "BOUND",
      description = "end of the training range and start of the validation range")
  String validFrom;

  @Option(names = "--to", defaultValue = "end", paramLabel = "BOUND",
      description = "end of the validation range, exclusive (default: ${DEFAULT-VALUE}: the end when the job starts)")
  String to;

  @Option(names = "--base", paramLabel = "V|ALIAS",
      description = "the version of --name whose config and transforms the examples follow (default: latest; with"
          + " --follow: the --alias version, whose weights it starts from)")
  String base;

  @Option(names = "--warm-start", description = "start from the --base version's weights instead of new ones")
  boolean warmStart;

  @Mixin
  AnnounceOptions announce = new AnnounceOptions();

  @Option(names = "--follow", description = "train continuously on --examples-topic from --from (or the checkpoint),"
      + " publishing and gating a version every --publish-every; needs --checkpoint-dir")
  boolean follow;

  @Option(names = "--publish-every", defaultValue = "1h", paramLabel = "TIME|COUNT", description = "with --follow:"
      + " publish a version after this time (10m, 1h) or this many trained examples (500000) (default: ${DEFAULT-VALUE})")
  String publishEvery;

  @Option(names = "--checkpoint-every", defaultValue = "1m", converter = DurationConverter.class, paramLabel = "TIME",
      description = "with --follow: commit a checkpoint this often; a restart retrains at most this much"
          + " (default: ${DEFAULT-VALUE})")
  java.time.Duration checkpointEvery;

  @Option(names = "--holdout", defaultValue = "0.05", paramLabel = "FRACTION", description = "with --follow: share of"
      + " requests (by request id hash) never trained on; the gates' slice (default: ${DEFAULT-VALUE})")
  double holdout;

  @Option(names = "--holdout-size", defaultValue = "50000", paramLabel = "N", description = "with --follow: the most"
      + " recent held-out examples each version is gated on (default: ${DEFAULT-VALUE})")
  int holdoutSize;

  @Option(names = "--require", paramLabel = "GATE", description = "with --follow: gate, repeatable or"
      + " comma-separated, as evaluate's: [TASK:]METRIC[.lo|.hi|.p] OP NUMBER on (new version - alias version),"
      + " e.g. auc>=0, auc.lo>=-0.001; none: every version is promoted")
  List<String> require = new java.util.ArrayList<>();

  @Option(names = "--alias", defaultValue = "production", paramLabel = "ALIAS", description = "with --follow: the alias"
      + " a version is gated against and moved to when it passes (default: ${DEFAULT-VALUE})")
  String alias;

  @Option(names = "--gate-bootstrap", defaultValue = "200", paramLabel = "N", description = "with --follow: bootstrap"
      + " replicates of the gates' intervals (default: ${DEFAULT-VALUE})")
  int gateBootstrap;

  @Mixin
  MetricsOptions metricsOptions = new MetricsOptions();

  /** The metrics port bound by --follow, once started (tests). */
  volatile int boundMetricsPort = -1;

  /** Stops a running --follow as SIGTERM does (tests). */
  final java.util.concurrent.atomic.AtomicBoolean stopFollow = new java.util.concurrent.atomic.AtomicBoolean();

  @Option(names = "--checkpoint-dir", description = "checkpoint after every epoch; resume from one found here")
  Path checkpoints;

  @Option(names = "--token-dim", defaultValue = "16", description = "token dimension d (default: ${DEFAULT-VALUE})") int tokenDim;
  @Option(names = "--heads", defaultValue = "2", description = "attention heads (default: ${DEFAULT-VALUE})") int heads;
  @Option(names = "--layers", defaultValue = "2", description = "layers (default: ${DEFAULT-VALUE})") int layers;
  @Option(names = "--rank-k", defaultValue = "32", description = "rank of the composite key projection (default: ${DEFAULT-VALUE})") int rankK;
  @Option(names = "--rank-v", defaultValue = "64", description = "rank of the composite value projection (default: ${DEFAULT-VALUE})") int rankV;
  @Option(names = "--ffn-mult", defaultValue = "2", description = "FFN width as a multiple of d (default: ${DEFAULT-VALUE})") int ffnMult;
  @Option(names = "--tower", defaultValue = "64,32", split = ",", description = "tower hidden widths (default: ${DEFAULT-VALUE})")
  List<Integer> tower;
  @Option(names = "--dense-tokens", defaultValue = "1", description = "tokens the dense fields are projected into (default: ${DEFAULT-VALUE})") int denseTokens;
  @Option(names = "--variant", defaultValue = "hiformer", description = "hiformer, hetero (per-token keys and values) or vanilla (shared Q, K, V, O, FFN)")
  String variant;
  @Option(names = "--no-prune", description = "compute every token's row in the last layer") boolean noPrune;

  @Option(names = "--epochs", defaultValue = "30", description = "most epochs, at least 1 (default: ${DEFAULT-VALUE})") int epochs;
  @Option(names = "--patience", defaultValue = "3", description = "epochs without a better validation AUC before stopping, at least 1 (default: ${DEFAULT-VALUE})") int patience;
  @Option(names = "--batch-size", defaultValue = "1024", description = "examples per step (default: ${DEFAULT-VALUE})") int batchSize;
  @Option(names = "--lr", defaultValue = "1e-3", description = "Adam learning rate (default: ${DEFAULT-VALUE})") double lr;
  @Option(names = "--warmup", defaultValue = "0", description = "linear learning-rate warm-up steps") int warmup;
  @Option(names = "--dropout", defaultValue = "0.2", description = "attention, FFN and tower dropout") float dropout;
  @Option(names = "--token-dropout", defaultValue = "0.2", description = "dropout on field tokens") float tokenDropout;
  @Option(names = "--embedding-decay", defaultValue = "0", description = "decoupled weight decay on embeddings (AdamW, per step x lr)") double embeddingDecay;
  @Option(names = "--embedding-l2", defaultValue = "0", description = "L2 penalty on the embedding rows a batch uses") double embeddingL2;
  @Option(names = "--ema", defaultValue = "0", description = "moving average of the weights for evaluation and the final model, e.g. 0.999 (0: off)") double ema;
  @Option(names = "--threads", description = "training threads (default: all processors)") Integer threads;
  @Option(names = "--backend", defaultValue = "cpu", paramLabel = "auto|cpu|cuda",
      description = "where steps run: cpu; cuda (the GPU, or exit 2 when there is no usable one); auto (the GPU"
          + " when usable for this model, else the CPU, saying why). On the GPU, weights, tables and Adam state"
          + " live on the device and the optimiser runs there; checkpoints resume on either (default: ${DEFAULT-VALUE})")
  String backend;
  @Option(names = "--seed", defaultValue = "1", description = "seed of initialisation, data order and dropout (default: ${DEFAULT-VALUE})") long seed;
  @Option(names = "--max-bad-rows", defaultValue = "0", description = "skip up to this many bad rows per file set, then stop; the count and where go to the console and the report (default: ${DEFAULT-VALUE})") long maxBadRows;

  @Option(names = "--kernels", defaultValue = "auto", description = "CPU kernels: ${COMPLETION-CANDIDATES}")
  KernelChoice kernels;

  @Option(names = "--cache-dir", paramLabel = "DIR", description = "keep the fitted transforms and featurised examples"
      + " here, keyed by the data files (path, size, modification time) and the transforms, so later runs on the same"
      + " data skip the text (default: a temporary directory removed after the run)")
  Path cacheDir;

  @Option(names = "--shuffle-window", defaultValue = "1048576", paramLabel = "N",
      description = "examples an epoch's shuffle draws from at once; the order of the blocks is shuffled too"
          + " (default: ${DEFAULT-VALUE})")
  int shuffleWindow;

  @Option(names = "--feed-threads", paramLabel = "N", description = "threads assembling each epoch's shuffled"
      + " batches from the cache; any number gives the same batches in the same order (default: all processors)")
  Integer feedThreads;

  private TrainJob.Pipeline pipeline(int threads) {
    return new TrainJob.Pipeline(cacheDir, shuffleWindow, threads,
        feedThreads == null ? Runtime.getRuntime().availableProcessors() : feedThreads);
  }

  @Override
  public Integer call() {
    TrainJob.Outcome outcome;
    Trainer.Options options;
    try {
      checkOptions();
      backend().checkDevice();
      options = new Trainer.Options(batchSize, lr, warmup, new Dropout(tokenDropout, dropout, dropout, dropout),
          Adam.Settings.defaults().withEmbeddingRegularisation(embeddingDecay, embeddingL2), threads(), seed, ema);
      checkOutputs();
      if (follow) {
        return follow(options);
      }
      outcome = examplesTopic == null ? fromFiles(options) : fromTopic(options);
      if (outcome == null) {
        return 2;
      }
    } catch (TrainingFailedException e) {
      System.err.println("error: " + e.getMessage() + "; no model written");
      return 1;
    } catch (io.hiformer.features.BadRowException | IllegalArgumentException | IllegalStateException
        | java.util.NoSuchElementException | java.io.UncheckedIOException | org.apache.kafka.common.KafkaException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    } catch (java.io.IOException e) {
      System.err.println("error: " + describe(e));
      return 2;
    }

    Map<String, Object> report = outcome.report();
    System.out.println("valid: " + report.get("valid"));
    if (report.containsKey("test")) {
      System.out.println("test:  " + report.get("test"));
    }
    ModelRegistry.Version published = null;
    try {
      if (out != null) {
        ModelFile.write(out, outcome.parameters(), outcome.metadata());
        System.out.println("model written to " + out);
      } else {
        published = ModelRegistry.open(registry).publish(name, outcome.parameters(), outcome.metadata(),
            outcome.lineageJson());
        report.put("published", Map.of("model", published.model(), "version", published.number(),
            "sha256", published.sha256()));
        System.out.printf("published %s version %d to %s%n", published.model(), published.number(), registry);
      }
      if (reportJson != null) {
        Files.writeString(reportJson, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .writeValueAsString(report));
      }
    } catch (java.io.IOException | RuntimeException e) {
      System.err.println("error: " + describe(e));
      return 1;
    }
    if (published != null) {
      try {
        announce.announce(ModelRegistry.open(registry), published, System.out);
      } catch (java.io.IOException e) {
        System.err.println("error: " + e.getMessage() + " (v" + published.number() + " is published; rankers polling"
            + " the registry still find it)");
        return 2;
      }
    }
    return 0;
  }

  private TrainingBackend backend() {
    return TrainingBackend.parse(backend);
  }

  private int threads() {
    return threads == null ? Runtime.getRuntime().availableProcessors() : threads;
  }

  /** Most training threads: each holds a batch shard's activations and a full set of gradients. */
  static final int MAX_THREADS = 1024;

  /** Every numeric option in range, named in the error, before any data is read. */
  private void checkOptions() {
    require(batchSize >= 1, "--batch-size must be at least 1, got " + batchSize);
    require(threads == null || (threads >= 1 && threads <= MAX_THREADS),
        "--threads must be in 1.." + MAX_THREADS + ", got " + threads);
    require(feedThreads == null || (feedThreads >= 1 && feedThreads <= MAX_THREADS),
        "--feed-threads must be in 1.." + MAX_THREADS + ", got " + feedThreads);
    require(Double.isFinite(lr) && lr > 0, "--lr must be a positive finite number, got " + lr);
    require(dropout >= 0 && dropout < 1, "--dropout must be in [0, 1), got " + dropout);
    require(tokenDropout >= 0 && tokenDropout < 1, "--token-dropout must be in [0, 1), got " + tokenDropout);
    require(ema >= 0 && ema < 1, "--ema must be in [0, 1) (0: off), got " + ema);
    require(epochs >= 1, "--epochs must be at least 1, got " + epochs);
    require(patience >= 1, "--patience must be at least 1, got " + patience);
    require(warmup >= 0, "--warmup must not be negative, got " + warmup);
    require(maxBadRows >= 0, "--max-bad-rows must not be negative, got " + maxBadRows);
    require(shuffleWindow >= 1, "--shuffle-window must be positive, got " + shuffleWindow);
    require(Double.isFinite(embeddingDecay) && embeddingDecay >= 0,
        "--embedding-decay must be a finite number >= 0, got " + embeddingDecay);
    require(Double.isFinite(embeddingL2) && embeddingL2 >= 0,
        "--embedding-l2 must be a finite number >= 0, got " + embeddingL2);
    if (schema != null) {
      UserErrors.readableFile("--schema", schema);
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /**
   * Every place the run will write, checked before the first epoch so that hours of training are
   * not lost to an unwritable path: each directory must be creatable and take a new file.
   */
  private void checkOutputs() throws java.io.IOException {
    if (registry != null) {
      try {
        ModelRegistry.requireModelName(name);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--name: " + e.getMessage());
      }
      writableDirectory(registry, "--registry");
    }
    if (out != null) {
      writableFileIn(out, "--out");
    }
    if (reportJson != null) {
      writableFileIn(reportJson, "--report-json");
    }
    if (checkpoints != null) {
      writableDirectory(checkpoints, "--checkpoint-dir");
    }
    if (cacheDir != null) {
      writableDirectory(cacheDir, "--cache-dir");
    }
  }

  private static void writableFileIn(Path file, String option) {
    require(!Files.isDirectory(file), option + " " + file + " is a directory; expected a file name");
    Path parent = file.toAbsolutePath().getParent();
    require(Files.isDirectory(parent), option + " " + file + ": directory " + parent + " does not exist");
    probe(parent, option + " " + file);
  }

  private static void writableDirectory(Path dir, String option) {
    require(!Files.exists(dir) || Files.isDirectory(dir), option + " " + dir + " is not a directory");
    try {
      Files.createDirectories(dir);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException(option + " " + dir + " cannot be created: " + describe(e));
    }
    probe(dir, option + " " + dir);
  }

  /** Creates and deletes a file in {@code dir}: the only test of writability that holds for every user. */
  private static void probe(Path dir, String what) {
    try {
      Files.delete(Files.createTempFile(dir, ".hiformer-write-check", ".tmp"));
    } catch (java.io.IOException | SecurityException e) {
      throw new IllegalArgumentException(what + " is not writable: " + describe(e));
    }
  }

  /** An exception's message, with what the JDK leaves out of file-system ones. */
  static String describe(Exception e) {
    return switch (e) {
      case java.nio.file.NoSuchFileException n -> "no such file: " + n.getMessage();
      case java.nio.file.AccessDeniedException a -> "permission denied: " + a.getMessage();
      case java.nio.file.FileSystemException f -> f.getMessage();
      default -> e.getMessage() == null ? e.toString() : e.getMessage();
    };
  }

  /** The job from data files; null (after an error line) when the options do not describe one. */
  private TrainJob.Outcome fromFiles(Trainer.Options options) throws java.io.IOException {
    if (schema == null || train.isEmpty() || valid.isEmpty()) {
      System.err.println("error: training from files needs --schema, --train and --valid (or give --examples-topic)");
      return null;
    }
    if ((out == null) == (registry == null)) {
      System.err.println("error: give exactly one of --out FILE or --registry DIR");
      return null;
    }
    TrainJob.Spec spec = new TrainJob.Spec(name, schema, dataDir, train, valid, test,
        new TrainJob.Shape(tokenDim, heads, layers, rankK, rankV, ffnMult, tower, denseTokens, !noPrune,
            io.hiformer.model.ModelConfig.Variant.fromJson(variant)),
        options, epochs, patience, maxBadRows, checkpoints);
    return TrainJob.run(spec, pipeline(options.threads()), kernels.kernels(), backend(), TrainingRun.Progress.console());
  }

  /** The job from the examples topic; null (after an error line) when the options do not describe one. */
  private TrainJob.Outcome fromTopic(Trainer.Options options) throws java.io.IOException {
    if (schema != null || !train.isEmpty() || !valid.isEmpty() || !test.isEmpty()) {
      System.err.println("error: --examples-topic replaces --schema, --train, --valid and --test");
      return null;
    }
    if (announce.kafka.bootstrapServers == null || registry == null || validFrom == null) {
      System.err.println("error: training from --examples-topic needs --bootstrap-servers, --registry (with --name and"
          + " --base: the serving version whose config and transforms the examples follow) and --valid-from");
      return null;
    }
    ModelRegistry r = ModelRegistry.open(registry);
    String base = this.base == null ? ModelRegistry.LATEST : this.base;
    ModelRegistry.Version baseVersion = r.resolve(name, base).orElseThrow(() -> new java.util.NoSuchElementException(
        "model '" + name + "' in " + registry + " has no version or alias '" + base + "'"));
    TrainJob.ExamplesSpec spec = new TrainJob.ExamplesSpec(name, r, baseVersion, warmStart,
        announce.kafka.bootstrapServers, examplesTopic, ExampleTopic.Bound.parse(from), ExampleTopic.Bound.parse(validFrom),
        ExampleTopic.Bound.parse(to), options, epochs, patience, maxBadRows, checkpoints);
    return TrainJob.run(spec, pipeline(options.threads()), kernels.kernels(), backend(), TrainingRun.Progress.console());
  }

  /**
   * {@code --follow}: the continuous trainer with metrics, checked promotion and announcements,
   * until SIGTERM (or a divergence: exit 1).
   */
  private int follow(Trainer.Options options) throws java.io.IOException {
    if (examplesTopic == null || announce.kafka.bootstrapServers == null || registry == null || checkpoints == null) {
      System.err.println("error: --follow needs --examples-topic, --bootstrap-servers, --registry (with --name) and"
          + " --checkpoint-dir");
      return 2;
    }
    if (out != null || validFrom != null || schema != null || !train.isEmpty() || !valid.isEmpty()) {
      System.err.println("error: --follow publishes to --registry and gates on a held-out slice: --out, --valid-from,"
          + " --schema, --train and --valid do not apply");
      return 2;
    }
    io.hiformer.training.PublishEvery every = parsePublishEvery(publishEvery);
    require(holdout > 0 && holdout < 1, "--holdout must be in (0, 1), got " + holdout);
    require(holdoutSize >= 1, "--holdout-size must be at least 1, got " + holdoutSize);
    require(!checkpointEvery.isNegative() && !checkpointEvery.isZero(), "--checkpoint-every must be positive");
    java.net.InetSocketAddress metricsAddress = metricsOptions.address();
    io.hiformer.training.evaluation.Evaluation.Options evaluation =
        io.hiformer.training.evaluation.Evaluation.Options.defaults().withBootstrap(gateBootstrap)
            .withThreads(options.threads());
    ModelRegistry r = ModelRegistry.open(registry);
    String start = base == null ? alias : base;
    List<io.hiformer.training.evaluation.Requirement> gates = new java.util.ArrayList<>();
    for (String g : require) {
      gates.addAll(io.hiformer.training.evaluation.Requirement.parse(g));
    }
    if (!gates.isEmpty()) {
      List<String> tasks = r.verify(r.resolve(name, start).orElseThrow(() -> new java.util.NoSuchElementException(
          "model '" + name + "' in " + registry + " has no version or alias '" + start + "'"))).parameters().config()
          .tasks();
      for (io.hiformer.training.evaluation.Requirement g : gates) {
        g.validate(io.hiformer.training.evaluation.Evaluation.metricNames(evaluation), tasks);
      }
    }
    io.hiformer.training.FollowTrainer trainer = new io.hiformer.training.FollowTrainer(
        new io.hiformer.training.FollowTrainer.Spec(r, name, start, alias, announce.kafka.bootstrapServers, examplesTopic,
            ExampleTopic.Bound.parse(from), checkpoints, options, every, checkpointEvery,
            new io.hiformer.training.Holdout(holdout, holdoutSize), gates, evaluation),
        kernels.kernels(), TrainingRun.Progress.console())
        .promoter((v, a) -> {
          // The ranker's own load and check, as models promote does: a version promoted here is one a ranker serves.
          io.hiformer.ranker.LoadedModel.load(r, v, 1).close();
          r.setAlias(name, a, v.number());
          announceQuietly(r, v);
        })
        .onPublished(v -> announceQuietly(r, v));
    java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
    java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
    Thread hook = new Thread(() -> {
      stop.set(true);
      try {
        done.await(5, java.util.concurrent.TimeUnit.MINUTES);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "hiformer-follow-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try (FollowMetrics metrics = new FollowMetrics(trainer.stats());
        io.hiformer.ranker.MetricsServer server = io.hiformer.ranker.MetricsServer.start(metricsAddress,
            metrics::scrape, () -> trainer.stats().running())) {
      boundMetricsPort = server.port();
      System.out.printf("metrics on port %d (GET /metrics, /live, /ready)%n", server.port());
      trainer.run(() -> stop.get() || stopFollow.get());
      return 0;
    } finally {
      done.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException alreadyShuttingDown) {
        // The hook runs: it waited for this.
      }
    }
  }

  /** Announces {@code v} when Kafka is given; a failure is a warning: the registry has the version. */
  private void announceQuietly(ModelRegistry r, ModelRegistry.Version v) {
    try {
      announce.announce(r, v, System.out);
    } catch (java.io.IOException e) {
      System.err.println("warning: " + e.getMessage() + " (v" + v.number() + " is in the registry; rankers polling it"
          + " still find it)");
    }
  }

  /** {@code 10m}, {@code 1h} (a time) or {@code 500000} (trained examples). */
  static io.hiformer.training.PublishEvery parsePublishEvery(String text) {
    String s = text.strip().replace("_", "");
    if (s.matches("\\d+")) {
      long n;
      try {
        n = Long.parseLong(s);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--publish-every " + text + " is too large");
      }
      require(n > 0, "--publish-every must be a positive count or time, got " + text);
      return io.hiformer.training.PublishEvery.examples(n);
    }
    java.time.Duration d;
    try {
      d = new DurationConverter().convert(s);
    } catch (picocli.CommandLine.TypeConversionException e) {
      throw new IllegalArgumentException("--publish-every '" + text + "' is neither a time (10m, 1h) nor an example"
          + " count (500000)");
    }
    require(!d.isNegative() && !d.isZero(), "--publish-every must be a positive count or time, got " + text);
    return io.hiformer.training.PublishEvery.time(d);
  }
}
