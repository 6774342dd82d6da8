package io.hiformer.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.features.Featurizer;
import io.hiformer.features.OpenVocabulary;
import io.hiformer.features.RawRecord;
import io.hiformer.features.VerifiedModel;
import io.hiformer.features.BadRows;
import io.hiformer.features.data.ExampleFiles;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.features.joiner.ExampleJoiner;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.localkafka.LocalKafka;
import io.hiformer.model.Batch;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Hiformer;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.CpuScorer;
import io.hiformer.proto.Candidate;
import io.hiformer.ranker.Ranker;
import io.hiformer.model.Dropout;
import io.hiformer.training.Adam;
import io.hiformer.training.FollowStats;
import io.hiformer.training.FollowTrainer;
import io.hiformer.training.Holdout;
import io.hiformer.training.Trainer;
import io.hiformer.training.TrainingRun;
import io.hiformer.training.evaluation.Evaluation;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.StringList;
import io.hiformer.proto.TrainingExample;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hiformer demo}: the whole system on one machine, end to end, in one process (see
 * README.md, "The demo", and {@link DemoWorld} for the planted truth).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"Runs the whole system on this machine: an embedded Kafka broker, a synthetic catalogue and"
        + " population with a planted user x item x context interaction, feature streaming, training and"
        + " publishing v1, the ranker over gRPC with live traffic and outcomes, the example joiner, v2 trained on"
        + " the logged examples, an offline evaluation of v1 against v2, and the winner promoted and swapped in"
        + " live. Then (--continuous, the default) new items launch and a preference shifts while a frozen v1 and"
        + " a continuously trained arm (train --follow in this process, its item vocabulary growing) serve side by"
        + " side; both are compared on the new items, and the outcome-to-served freshness is reported."
        + " Prints a summary and where the reports are; the log of every step goes to OUT/demo.log.",
        "Exits 0 when every step worked, 1 when one failed (the summary says which)."})
final class DemoCommand implements Callable<Integer> {
  private static final String MODEL = "demo";
  /** How long the joiner waits for a request's outcomes, and its grace for late ones. */
  private static final Duration JOINER_WINDOW = Duration.ofSeconds(3);
  private static final Duration JOINER_GRACE = Duration.ofSeconds(1);
  private static final Duration REGISTRY_POLL = Duration.ofSeconds(2);

  @Option(names = "--out", defaultValue = "demo-out", paramLabel = "DIR",
      description = "working directory: Kafka's log, the registry, data, report; replaced when an earlier demo made it,"
          + " refused when it holds anything else (default: ${DEFAULT-VALUE})")
  Path out;

  @Option(names = "--users", defaultValue = "3000", description = "users (default: ${DEFAULT-VALUE})")
  int users;

  @Option(names = "--items", defaultValue = "600", description = "items (default: ${DEFAULT-VALUE})")
  int items;

  @Option(names = "--history", defaultValue = "40000",
      description = "logged impressions v1 trains on (default: ${DEFAULT-VALUE})")
  int history;

  @Option(names = "--requests", defaultValue = "4000",
      description = "Rank calls whose outcomes v2 trains on (default: ${DEFAULT-VALUE})")
  int requests;

  @Option(names = "--candidates", defaultValue = "40", description = "candidates per call (default: ${DEFAULT-VALUE})")
  int candidates;

  @Option(names = "--top-k", defaultValue = "10", description = "candidates shown per call (default: ${DEFAULT-VALUE})")
  int topK;

  @Option(names = "--epochs", defaultValue = "10", description = "most epochs of each training (default: ${DEFAULT-VALUE})")
  int epochs;

  @Option(names = "--seed", defaultValue = "7", description = "seed of the world and the traffic (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--feature-store", defaultValue = "memory", paramLabel = "memory|rocksdb",
      converter = ServeCommand.StoreKindName.class,
      description = "the ranker's online feature store, as serve's (rocksdb: in OUT/feature-store) (default: ${DEFAULT-VALUE})")
  io.hiformer.features.online.StoreChoice.Kind featureStore;

  @Option(names = "--continuous", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "then launch new items and shift a preference: the frozen v1 and a continuously trained arm"
      + " (train --follow, its item vocabulary growing) serve side by side; the summary compares them on the new"
      + " items and reports the outcome-to-served freshness (default: on; --no-continuous skips it)")
  boolean continuous;

  @Option(names = "--launched", defaultValue = "60",
      description = "with --continuous: items launched after v1 (default: ${DEFAULT-VALUE})")
  int launched;

  @Option(names = "--publish-every", defaultValue = "10s", paramLabel = "TIME",
      description = "with --continuous: the continuous trainer's --publish-every (default: ${DEFAULT-VALUE})")
  String publishEvery;

  private PrintStream console;
  private final List<AutoCloseable> running = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    console = System.out;
    long start = System.nanoTime();
    validate();
    replaceOut();
    PrintStream log = new PrintStream(Files.newOutputStream(out.resolve("demo.log")), true, StandardCharsets.UTF_8);
    PrintStream savedOut = System.out;
    PrintStream savedErr = System.err;
    Thread cleanup = new Thread(this::closeAll, "demo-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
    System.setOut(log);
    System.setErr(log);
    try {
      return run(start);
    } catch (Exception e) {
      e.printStackTrace(log);
      console.println("demo failed: " + e.getMessage() + " (see " + out.resolve("demo.log") + ")");
      return 1;
    } finally {
      closeAll();
      System.setOut(savedOut);
      System.setErr(savedErr);
      log.close();
      try {
        Runtime.getRuntime().removeShutdownHook(cleanup);
      } catch (IllegalStateException shuttingDown) {
        // Ctrl-C: the hook is running closeAll already.
      }
    }
  }

  private int run(long start) throws Exception {
    DemoWorld world = new DemoWorld(seed, users, items, continuous ? launched : 0);
    TopicNames topics = TopicNames.DEFAULT;
    Path registryDir = Files.createDirectories(out.resolve("registry"));
    Path data = Files.createDirectories(out.resolve("data"));
    // With --continuous the item id is open: versions trained after v1 grow its vocabulary.
    Files.writeString(data.resolve("demo.yaml"), DemoWorld.schemaYaml(continuous ? 2 * (items + launched) : 0));
    Path experiments = out.resolve("experiments.yaml");
    Files.writeString(experiments, EXPERIMENT_PRODUCTION);

    step(start, "Kafka: starting an embedded broker (KRaft)");
    LocalKafka kafka = LocalKafka.start(out.resolve("kafka"));
    running.add(kafka);
    String bootstrap = kafka.bootstrapServers();
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      KafkaTopics.ensure(admin, List.of(
          KafkaTopics.compacted(topics.prefix() + "features.user", 2),
          KafkaTopics.compacted(topics.prefix() + "features.item", 2),
          KafkaTopics.topic(topics.rankLog(), 2), KafkaTopics.topic(topics.outcomes(), 2),
          KafkaTopics.topic(topics.examples(), 2), KafkaTopics.compacted(topics.models(), 1)));
    }
    console.printf("      broker at %s, topics created%n", bootstrap);

    step(start, "Features: streaming %,d users and %,d items to %sfeatures.user / .item", users, items, topics.prefix());
    publishFeatures(world, bootstrap, topics);

    step(start, "v1: training on %,d historical impressions and publishing it", history);
    writeHistory(world, data);
    command("train", "--schema", data.resolve("demo.yaml").toString(), "--data-dir", data.toString(),
        "--train", "history-train.csv", "--valid", "history-valid.csv", "--registry", registryDir.toString(),
        "--name", MODEL, "--token-dim", "16", "--rank-k", "16", "--rank-v", "16", "--tower", "64,32",
        "--epochs", Integer.toString(epochs), "--patience", "2", "--batch-size", "512", "--lr", "3e-3",
        "--dropout", "0.1", "--token-dropout", "0.1", "--seed", Long.toString(seed));
    command("models", "promote", "--registry", registryDir.toString(), "--model", MODEL, "--version", "1",
        "--bootstrap-servers", bootstrap);
    console.println("      published demo v1 and promoted it to production");

    step(start, "Ranker: serving demo/production over gRPC (features from Kafka, rank log to Kafka)");
    Ranker.Options rankerOptions = Ranker.Options.of(ModelRegistry.open(registryDir), MODEL);
    // --continuous serves an experiment file (one arm, production, until the launch adds the second).
    rankerOptions = continuous ? rankerOptions.withExperiments(experiments, Duration.ofSeconds(1))
        : rankerOptions.withVersion("production");
    Ranker ranker = Ranker.start(rankerOptions.withAddress(new InetSocketAddress(0))
        .withMetricsAddress(new InetSocketAddress(0)).withRegistryPoll(REGISTRY_POLL)
        .withKafka(bootstrap, topics, RankLogWriter.Options.DEFAULTS)
        .withFeatureStore(null, new io.hiformer.features.online.StoreChoice(featureStore, out.resolve("feature-store"),
            io.hiformer.features.online.StoreChoice.DEFAULT.cacheBytes(),
            io.hiformer.features.online.StoreChoice.DEFAULT.maxEntitiesPerKind())), System.out);
    running.add(ranker);
    running.add(new ProcessMetrics(ranker.meterRegistry()));
    int port = ranker.port();
    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    running.add(() -> channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
    awaitServing(channel);
    console.printf("      ranker on port %d, SERVING (features caught up)%n", port);

    step(start, "Joiner: joining rank-log with outcomes into examples (Kafka Streams, exactly-once)");
    ExampleJoiner joiner = ExampleJoiner.start(
        new ExampleJoiner.Deployment(bootstrap, "demo-joiner", out.resolve("joiner-state"), 1),
        new ExampleJoiner.Options(JOINER_WINDOW, JOINER_GRACE, topics));
    running.add(joiner);

    step(start, "Traffic: %,d Rank calls of %d candidates, clicks on the top %d drawn from the planted truth",
        requests, candidates, topK);
    Traffic traffic = new Traffic(world, channel, bootstrap, topics, candidates, topK);
    running.add(traffic);
    long trafficStart = System.nanoTime();
    traffic.burst(requests, 2);
    double seconds = (System.nanoTime() - trafficStart) / 1e9;
    console.printf("      %,d calls in %.1f s (%.0f calls/s, %.0f candidates/s), %,d errors, click rate %.3f%n",
        traffic.ok.get(), seconds, traffic.ok.get() / seconds, traffic.ok.get() * candidates / seconds,
        traffic.errors.get(), traffic.clicks.get() / (double) Math.max(1, traffic.shown.get()));
    traffic.startLive(20);

    long wanted = (long) (0.95 * traffic.shown.get());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (joiner.counts().examples() < wanted && System.nanoTime() < deadline) {
      Thread.sleep(250);
    }
    console.printf("      joiner: %,d examples (%,d positives) from %,d requests%n", joiner.counts().examples(),
        joiner.counts().positives(), joiner.counts().requestsClosed());

    step(start, "v2: training on the logged examples (warm start from v1) and publishing it");
    ExampleTopic.Range all = ExampleTopic.resolve(bootstrap, topics.examples(),
        ExampleTopic.Bound.parse("beginning"), ExampleTopic.Bound.parse("end"));
    String validFrom = split(all, 0.70);
    String heldOutFrom = split(all, 0.85);
    command("train", "--examples-topic", topics.examples(), "--bootstrap-servers", bootstrap,
        "--from", all.from().toString(), "--valid-from", validFrom, "--to", heldOutFrom, "--base", "1", "--warm-start",
        "--registry", registryDir.toString(), "--name", MODEL, "--epochs", Integer.toString(epochs), "--patience", "2",
        "--batch-size", "512", "--lr", "2e-3", "--dropout", "0.1", "--token-dropout", "0.1",
        "--seed", Long.toString(seed));
    console.println("      published demo v2");

    step(start, "Evaluation: v1 against v2 on held-out logged examples (paired bootstrap by request)");
    Path heldOut = data.resolve("held-out.pb");
    ModelRegistry registry = ModelRegistry.open(registryDir);
    ExampleRows rows = new ExampleRows(VerifiedModel.load(registry, MODEL, "1").config());
    List<TrainingExample> held = new ArrayList<>();
    ExampleTopic.read(bootstrap, new ExampleTopic.Range(all.topic(), slices(all, heldOutFrom)), e -> true, rows,
        BadRows.none()).forEach(held::add);
    ExampleFiles.write(heldOut, held);
    Path report = out.resolve("report");
    int evaluated = command("evaluate", "--registry", registryDir.toString(), "--model", MODEL, "--versions", "1,2",
        "--data", heldOut.toString(), "--out", report.toString());
    JsonNode summary = new ObjectMapper().readTree(report.resolve("summary.json").toFile());
    Quality v1 = Quality.of(summary, 0);
    Quality v2 = Quality.of(summary, 1);
    console.printf("      %,d held-out examples; report %s (exit %d)%n", held.size(), report.resolve("report.html"),
        evaluated);

    step(start, "Promotion: the better version to production, swapped live under traffic");
    String winner = v2.auc >= v1.auc ? "2" : "1";
    long swapFrom = traffic.byVersion.getOrDefault(2L, new AtomicLong()).get();
    command("models", "promote", "--registry", registryDir.toString(), "--model", MODEL, "--version", winner,
        "--bootstrap-servers", bootstrap);
    long promoted = System.nanoTime();
    long swappedAt = -1;
    while (System.nanoTime() - promoted < TimeUnit.SECONDS.toNanos(30)) {
      if (traffic.byVersion.getOrDefault(Long.parseLong(winner), new AtomicLong()).get() > swapFrom
          && traffic.lastVersion.get() == Long.parseLong(winner)) {
        swappedAt = System.nanoTime();
        break;
      }
      Thread.sleep(20);
    }
    Thread.sleep(1000);
    traffic.stopLive();
    String liveCalls = String.format("%,d live calls: %s, %,d errors", traffic.ok.get(), traffic.byVersion,
        traffic.errors.get());
    Continuous arms = continuous ? continuous(start, world, bootstrap, topics, registryDir, data, experiments, traffic,
        joiner) : null;

    double recovery1 = recovery(world, registryDir, "1");
    double recovery2 = recovery(world, registryDir, "2");
    double elapsed = (System.nanoTime() - start) / 1e9;
    console.println();
    console.println("Summary");
    console.printf("  %-10s %-9s %-9s %-24s %s%n", "version", "AUC", "log loss", "interaction recovered", "trained on");
    console.printf("  %-10s %-9.4f %-9.4f %-24s %s%n", "v1", v1.auc, v1.logloss, percent(recovery1),
        String.format("%,d historical impressions", history));
    console.printf("  %-10s %-9.4f %-9.4f %-24s %s%n", "v2", v2.auc, v2.logloss, percent(recovery2),
        "logged examples (rank-log + outcomes)");
    console.printf("  v2 - v1 AUC %+.4f, 95%% interval [%+.4f, %+.4f]: %s%n", v2.auc - v1.auc,
        v2.aucDeltaLow, v2.aucDeltaHigh, v2.aucVerdict);
    console.printf("  interaction recovered = share of (segment, category) cells whose day-minus-night score%n"
        + "  difference has the planted sign (chance 50%%, truth 100%%)%n");
    console.printf("  promoted v%s; %s; %s%n", winner,
        swappedAt < 0 ? "the ranker did NOT switch within 30 s"
            : String.format("the ranker switched %.2f s after promotion", (swappedAt - promoted) / 1e9),
        liveCalls);
    if (arms != null) {
      arms.print(console);
    }
    console.printf("  report: %s%n  log: %s%n  finished in %.0f s%n", report.resolve("report.html").toAbsolutePath(),
        out.resolve("demo.log").toAbsolutePath(), elapsed);
    return swappedAt < 0 || traffic.errors.get() > 0 ? 1 : 0;
  }

  private static final String EXPERIMENT_PRODUCTION = """
      salt: demo
      arms:
        - {name: production, model: production, share: 1.0}
      """;

  private static final String EXPERIMENT_ARMS = """
      salt: demo
      arms:
        - {name: frozen, model: 1, share: 0.5}
        - {name: continuous, model: continuous, share: 0.5}
      """;

  /**
   * {@code --continuous}: launches the new items and the preference shift, serves two arms (the
   * frozen v1, and the alias {@code continuous} that a {@link FollowTrainer} in this process moves
   * to each version it publishes, its item vocabulary growing), sends a burst of traffic, waits for
   * a version trained on it, and compares the arms offline on fresh impressions of the new items.
   */
  private Continuous continuous(long start, DemoWorld world, String bootstrap, TopicNames topics, Path registryDir,
      Path data, Path experiments, Traffic traffic, ExampleJoiner joiner) throws Exception {
    step(start, "Launch: %d new items and a preference shift; arms 'frozen' (v1) and 'continuous' (train --follow)",
        world.launched());
    world.launch();
    publishFeatures(world, bootstrap, topics, world.items(), world.items() + world.launched());
    ModelRegistry registry = ModelRegistry.open(registryDir);
    registry.setAlias(MODEL, "continuous", 1);
    Files.writeString(experiments, EXPERIMENT_ARMS);
    FollowTrainer follow = new FollowTrainer(new FollowTrainer.Spec(registry, MODEL, "1", "continuous", bootstrap,
        topics.examples(), new ExampleTopic.Bound.End(), out.resolve("follow-checkpoints"),
        new Trainer.Options(256, 2e-3, 0, Dropout.NONE, Adam.Settings.defaults(), 1, 5, 0),
        TrainCommand.parsePublishEvery(publishEvery), Duration.ofSeconds(5), new Holdout(0.05, 2000), List.of(),
        Evaluation.Options.defaults().withBootstrap(50).withThreads(1)),
        CpuKernels.best(), TrainingRun.Progress.console());
    AtomicBoolean stop = new AtomicBoolean();
    java.util.concurrent.CompletableFuture<Void> followRun = java.util.concurrent.CompletableFuture.runAsync(() -> {
      try {
        follow.run(stop::get);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    running.add(() -> {
      stop.set(true);
      followRun.exceptionally(e -> null).get(60, TimeUnit.SECONDS);
    });
    FollowStats stats = follow.stats();
    // Wait until the ranker serves both arms.
    long armsDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!traffic.arms.containsKey("continuous") && System.nanoTime() < armsDeadline) {
      traffic.burst(20, 1);
    }
    Map<String, Long> armsBefore = traffic.armCounts();
    long examplesBefore = joiner.counts().examples();
    long shownBefore = traffic.shown.get();
    long trafficStart = System.nanoTime();
    traffic.burst(requests, 2);
    Map<String, Long> byArm = traffic.armCounts();
    byArm.replaceAll((arm, n) -> n - armsBefore.getOrDefault(arm, 0L));
    byArm.values().removeIf(n -> n == 0);
    console.printf("      %,d calls after the launch in %.1f s, by arm %s%n", requests,
        (System.nanoTime() - trafficStart) / 1e9, byArm);
    traffic.startLive(20);
    long wanted = examplesBefore + (long) (0.95 * (traffic.shown.get() - shownBefore));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (joiner.counts().examples() < wanted && System.nanoTime() < deadline) {
      Thread.sleep(250);
    }
    // The trainer catches up with the burst's examples, then the next promotion serves what it learned.
    long joined = joiner.counts().examples() - examplesBefore;
    deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (stats.examplesTrained() + stats.examplesHeldOut() + stats.examplesSkipped() < joined
        && !followRun.isDone() && System.nanoTime() < deadline) {
      Thread.sleep(250);
    }
    long promotedBefore = stats.versionsPromoted();
    while (stats.versionsPromoted() <= promotedBefore && !followRun.isDone() && System.nanoTime() < deadline) {
      Thread.sleep(250);
    }
    traffic.stopLive();
    stop.set(true);
    followRun.get(60, TimeUnit.SECONDS);
    long version = registry.resolve(MODEL, "continuous").orElseThrow().number();
    StringBuilder vocabulary = new StringBuilder();
    for (OpenVocabulary.Stats v : stats.vocabularies()) {
      vocabulary.append(String.format("%s %,d ids (%,d admitted)", v.field(), v.size(), v.admitted()));
    }
    console.printf("      continuous trainer: %,d examples trained, versions promoted: %d, alias continuous -> v%d;"
        + " vocabulary %s%n", stats.examplesTrained(), stats.versionsPromoted(), version, vocabulary);

    step(start, "Evaluation: frozen v1 against continuous v%d on fresh impressions of the launched items", version);
    writeLaunched(world, data.resolve("launched.csv"), Math.max(2000, 2 * requests));
    Path report = out.resolve("report-launched");
    command("evaluate", "--registry", registryDir.toString(), "--model", MODEL, "--versions", "1," + version,
        "--data", "launched.csv", "--data-dir", data.toString(), "--schema", data.resolve("demo.yaml").toString(),
        "--out", report.toString());
    JsonNode summary = new ObjectMapper().readTree(report.resolve("summary.json").toFile());
    return new Continuous(Quality.of(summary, 0), Quality.of(summary, 1), version, stats.freshnessSeconds(),
        JOINER_WINDOW.toMillis() / 1000.0 + JOINER_GRACE.toMillis() / 1000.0, REGISTRY_POLL.toMillis() / 1000.0,
        stats.examplesTrained(), report);
  }

  /** Impressions of the launched items only, drawn from the world after the launch (labels from the truth). */
  private void writeLaunched(DemoWorld world, Path file, int rows) throws IOException {
    SplittableRandom rnd = new SplittableRandom(seed + 2);
    List<String> columns = new ArrayList<>(world.row(0, 0, DemoWorld.context(rnd)).keySet());
    columns.add("click");
    try (var w = Files.newBufferedWriter(file)) {
      w.write(String.join(",", columns) + "\n");
      for (int n = 0; n < rows; n++) {
        int u = rnd.nextInt(world.users());
        int i = world.items() + rnd.nextInt(world.launched());
        Map<String, String> context = DemoWorld.context(rnd);
        Map<String, String> row = new LinkedHashMap<>(world.row(u, i, context));
        row.put("click", world.click(u, i, context, rnd) ? "1" : "0");
        w.write(String.join(",", row.values()) + "\n");
      }
    }
  }

  /** The two arms on the launched items, and the freshness of the continuous one. */
  private record Continuous(Quality frozen, Quality trained, long version, double trainerFreshness,
      double joinerWindow, double registryPoll, long examples, Path report) {
    void print(PrintStream console) {
      console.printf("  launched items (after v1), fresh impressions: frozen v1 AUC %.4f, continuous v%d AUC %.4f%n",
          frozen.auc, version, trained.auc);
      console.printf("  continuous - frozen AUC %+.4f, 95%% interval [%+.4f, %+.4f]: %s%n", trained.auc - frozen.auc,
          trained.aucDeltaLow, trained.aucDeltaHigh, trained.aucVerdict);
      console.printf("  freshness, outcome to served: %.1f s = joiner window %.1f s + trainer %.1f s (promotion after"
          + " the newest trained example) + ranker registry poll %.1f s%n", joinerWindow + trainerFreshness
          + registryPoll, joinerWindow, trainerFreshness, registryPoll);
      console.printf("  launched-items report: %s%n", report.resolve("report.html").toAbsolutePath());
    }
  }

  private void step(long start, String format, Object... args) {
    console.printf("[%5.1fs] %s%n", (System.nanoTime() - start) / 1e9, String.format(format, args));
  }

  private int command(String... args) {
    int exit = HiformerCommand.commandLine().execute(args);
    if (exit != 0 && !(args[0].equals("evaluate") && exit == 1)) {
      throw new IllegalStateException("'hiformer " + String.join(" ", args) + "' exited " + exit);
    }
    return exit;
  }

  private void publishFeatures(DemoWorld world, String bootstrap, TopicNames topics) {
    publishFeatures(world, bootstrap, topics, 0, world.items());
  }

  /** Publishes the users' features when {@code fromItem} is 0, and those of items [fromItem, toItem). */
  private void publishFeatures(DemoWorld world, String bootstrap, TopicNames topics, int fromItem, int toItem) {
    long now = System.currentTimeMillis();
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ProducerConfig.LINGER_MS_CONFIG, 5),
        new StringSerializer(), new ByteArraySerializer())) {
      for (int u = 0; fromItem == 0 && u < world.users(); u++) {
        FeatureUpdate.Builder update = FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_USER)
            .setEntityId(DemoWorld.userId(u)).setEventTimeMs(now);
        world.userFeatures(u).forEach((k, v) -> update.putFields(k, k.equals("recent_categories")
            ? FeatureValue.newBuilder().setBag(StringList.newBuilder().addAllValues(List.of(v.split("\\|")))).build()
            : FeatureValue.newBuilder().setCategorical(v).build()));
        producer.send(new ProducerRecord<>(topics.prefix() + "features.user", DemoWorld.userId(u),
            update.build().toByteArray()));
      }
      for (int i = fromItem; i < toItem; i++) {
        FeatureUpdate.Builder update = FeatureUpdate.newBuilder().setEntityKind(EntityKind.ENTITY_KIND_ITEM)
            .setEntityId(DemoWorld.itemId(i)).setEventTimeMs(now);
        world.itemFeatures(i).forEach((k, v) -> update.putFields(k, k.equals("item_price")
            ? FeatureValue.newBuilder().setDense(Double.parseDouble(v)).build()
            : FeatureValue.newBuilder().setCategorical(v).build()));
        producer.send(new ProducerRecord<>(topics.prefix() + "features.item", DemoWorld.itemId(i),
            update.build().toByteArray()));
      }
      producer.flush();
    }
  }

  /** Historical impressions of a random policy with clicks from the truth, 90% train, 10% valid. */
  private void writeHistory(DemoWorld world, Path data) throws IOException {
    SplittableRandom rnd = new SplittableRandom(seed + 1);
    List<String> columns = new ArrayList<>(world.row(0, 0, DemoWorld.context(rnd)).keySet());
    columns.add("click");
    try (var train = Files.newBufferedWriter(data.resolve("history-train.csv"));
        var valid = Files.newBufferedWriter(data.resolve("history-valid.csv"))) {
      train.write(String.join(",", columns) + "\n");
      valid.write(String.join(",", columns) + "\n");
      for (int n = 0; n < history; n++) {
        int u = rnd.nextInt(world.users());
        int i = rnd.nextInt(world.items());
        Map<String, String> context = DemoWorld.context(rnd);
        Map<String, String> row = new LinkedHashMap<>(world.row(u, i, context));
        row.put("click", world.click(u, i, context, rnd) ? "1" : "0");
        (n % 10 == 0 ? valid : train).write(String.join(",", row.values()) + "\n");
      }
    }
  }

  private static void awaitServing(ManagedChannel channel) throws InterruptedException {
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline) {
      try {
        if (health.check(HealthCheckRequest.newBuilder().setService("hiformer.v1.Ranker").build()).getStatus()
            == HealthCheckResponse.ServingStatus.SERVING) {
          return;
        }
      } catch (RuntimeException notYet) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("the ranker did not report SERVING within 120 s");
  }

  /** Offsets per partition at {@code fraction} of each partition's range. */
  private static String split(ExampleTopic.Range range, double fraction) {
    StringBuilder s = new StringBuilder();
    for (ExampleTopic.Slice slice : range.slices()) {
      long at = slice.from() + (long) Math.floor(fraction * slice.size());
      s.append(s.isEmpty() ? "" : ",").append(slice.partition()).append(':').append(at);
    }
    return s.toString();
  }

  private static List<ExampleTopic.Slice> slices(ExampleTopic.Range range, String from) {
    Map<Integer, Long> starts = new HashMap<>();
    for (String part : from.split(",")) {
      String[] po = part.split(":");
      starts.put(Integer.parseInt(po[0]), Long.parseLong(po[1]));
    }
    List<ExampleTopic.Slice> slices = new ArrayList<>();
    for (ExampleTopic.Slice s : range.slices()) {
      slices.add(new ExampleTopic.Slice(s.partition(), starts.get(s.partition()), s.to()));
    }
    return slices;
  }

  /** {@link DemoWorld#interactionRecovery} of a registry version, scored through its own transforms. */
  private static double recovery(DemoWorld world, Path registryDir, String version) throws IOException {
    VerifiedModel model = VerifiedModel.load(ModelRegistry.open(registryDir), MODEL, version);
    Featurizer featurizer = new Featurizer(model.transforms());
    Batch batch = new Batch(model.config(), 1);
    float[] logit = new float[model.config().numTasks()];
    try (CpuScorer scorer = new CpuScorer(new Hiformer(model.parameters(), CpuKernels.best()), 1)) {
      ToDoubleFunction<Map<String, String>> score = row -> {
        batch.clear();
        featurizer.add(RawRecord.of(row), batch);
        scorer.score(batch, logit);
        return logit[0];
      };
      return world.interactionRecovery(score, 11);
    }
  }

  private static String percent(double fraction) {
    return String.format("%.0f%%", 100 * fraction);
  }

  private void closeAll() {
    synchronized (running) {
      for (int i = running.size() - 1; i >= 0; i--) {
        try {
          running.get(i).close();
        } catch (Exception e) {
          System.err.println("demo: closing: " + e);
        }
      }
      running.clear();
    }
  }

  /** A file in every --out folder the demo made: only such a folder is replaced. */
  static final String MARKER = ".hiformer-demo";

  /** Every option checked before anything on disk changes. */
  private void validate() {
    positive("--users", users);
    positive("--items", items);
    positive("--history", history);
    positive("--requests", requests);
    positive("--candidates", candidates);
    positive("--top-k", topK);
    positive("--epochs", epochs);
    if (candidates > items) {
      throw new IllegalArgumentException("--candidates (" + candidates + ") must not exceed --items (" + items + ")");
    }
    if (topK > candidates) {
      throw new IllegalArgumentException("--top-k (" + topK + ") must not exceed --candidates (" + candidates + ")");
    }
  }

  private static void positive(String option, long value) {
    if (value < 1) {
      throw new IllegalArgumentException(option + " must be positive, got " + value);
    }
  }

  /**
   * Empties --out when an earlier demo made it (its marker is there), creates it when missing, and
   * refuses anything else (a file, or a folder with other contents, such as the current folder).
   */
  private void replaceOut() throws IOException {
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new IllegalArgumentException("--out " + out + " is a file, not a folder");
    }
    if (Files.isDirectory(out)) {
      boolean empty;
      try (var entries = Files.list(out)) {
        empty = entries.findAny().isEmpty();
      }
      if (!empty && !Files.exists(out.resolve(MARKER))) {
        throw new IllegalArgumentException("--out " + out + " is not empty and was not made by the demo (no " + MARKER
            + " file in it); name a new folder, or one an earlier demo made");
      }
      deleteTree(out);
    }
    Files.createDirectories(out);
    Files.writeString(out.resolve(MARKER), "made by hiformer demo; the next demo with --out here replaces this folder\n");
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var paths = Files.walk(root)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  /** AUC and log loss of one version from evaluate's summary.json, and its difference to the first. */
  private record Quality(double auc, double logloss, double aucDeltaLow, double aucDeltaHigh, String aucVerdict) {
    static Quality of(JsonNode summary, int index) {
      JsonNode task = summary.path("tasks").path("click");
      List<String> labels = new ArrayList<>();
      task.path("versions").fieldNames().forEachRemaining(labels::add);
      JsonNode metrics = task.path("versions").path(labels.get(index));
      JsonNode delta = task.path("deltas").path(labels.get(index)).path("auc");
      return new Quality(metrics.path("auc").asDouble(Double.NaN), metrics.path("logloss").asDouble(Double.NaN),
          delta.path("lo").asDouble(0), delta.path("hi").asDouble(0), delta.path("verdict").asText("baseline"));
    }
  }

  /** gRPC clients sending Rank calls and the outcomes of what they were shown. */
  private static final class Traffic implements AutoCloseable {
    final AtomicLong ok = new AtomicLong();
    final AtomicLong errors = new AtomicLong();
    final AtomicLong shown = new AtomicLong();
    final AtomicLong clicks = new AtomicLong();
    final Map<Long, AtomicLong> byVersion = new ConcurrentHashMap<>();
    final AtomicLong lastVersion = new AtomicLong();
    final Map<String, AtomicLong> arms = new ConcurrentHashMap<>();
    private final DemoWorld world;
    private final RankerGrpc.RankerBlockingStub ranker;
    private final KafkaProducer<String, byte[]> outcomes;
    private final String outcomesTopic;
    private final AtomicBoolean live = new AtomicBoolean();
    private Thread liveThread;
    private final AtomicLong sequence = new AtomicLong();

    private final int candidates;
    private final int topK;

    Traffic(DemoWorld world, ManagedChannel channel, String bootstrap, TopicNames topics, int candidates, int topK) {
      this.world = world;
      this.candidates = candidates;
      this.topK = topK;
      this.ranker = RankerGrpc.newBlockingStub(channel);
      this.outcomesTopic = topics.outcomes();
      this.outcomes = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
          ProducerConfig.LINGER_MS_CONFIG, 5), new StringSerializer(), new ByteArraySerializer());
    }

    /** Calls answered so far, by the arm that served them. */
    Map<String, Long> armCounts() {
      Map<String, Long> out = new java.util.TreeMap<>();
      arms.forEach((arm, n) -> out.put(arm, n.get()));
      return out;
    }

    void burst(int calls, int threads) throws InterruptedException {
      AtomicLong left = new AtomicLong(calls);
      List<Thread> workers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        long threadSeed = 1000 + t;
        workers.add(Thread.ofPlatform().start(() -> {
          SplittableRandom rnd = new SplittableRandom(threadSeed);
          while (left.getAndDecrement() > 0) {
            call(rnd);
          }
        }));
      }
      for (Thread w : workers) {
        w.join();
      }
      outcomes.flush();
    }

    void startLive(int callsPerSecond) {
      live.set(true);
      liveThread = Thread.ofPlatform().name("demo-live-traffic").start(() -> {
        SplittableRandom rnd = new SplittableRandom(99);
        while (live.get()) {
          call(rnd);
          try {
            Thread.sleep(1000 / callsPerSecond);
          } catch (InterruptedException e) {
            return;
          }
        }
      });
    }

    void stopLive() throws InterruptedException {
      live.set(false);
      if (liveThread != null) {
        liveThread.join();
      }
      outcomes.flush();
    }

    private void call(SplittableRandom rnd) {
      int u = rnd.nextInt(world.users());
      Map<String, String> context = DemoWorld.context(rnd);
      RankRequest.Builder request = RankRequest.newBuilder().setUserId(DemoWorld.userId(u))
          .setRequestId("r" + sequence.incrementAndGet() + "-" + rnd.nextInt(1 << 30)).setTopK(topK);
      context.forEach((k, v) -> request.putContext(k, FeatureValue.newBuilder().setCategorical(v).build()));
      java.util.Set<Integer> picked = new java.util.HashSet<>();
      while (picked.size() < candidates) {
        picked.add(world.candidate(rnd));
      }
      picked.forEach(i -> request.addCandidates(Candidate.newBuilder().setItemId(DemoWorld.itemId(i))));
      RankResponse response;
      try {
        response = ranker.withDeadlineAfter(5, TimeUnit.SECONDS).rank(request.build());
      } catch (RuntimeException e) {
        errors.incrementAndGet();
        return;
      }
      ok.incrementAndGet();
      byVersion.computeIfAbsent(response.getModelVersion(), v -> new AtomicLong()).incrementAndGet();
      lastVersion.set(response.getModelVersion());
      arms.computeIfAbsent(response.getArm(), a -> new AtomicLong()).incrementAndGet();
      long now = System.currentTimeMillis();
      for (var scored : response.getCandidatesList()) {
        int item = Integer.parseInt(scored.getItemId().substring(1));
        shown.incrementAndGet();
        if (world.click(u, item, context, rnd)) {
          clicks.incrementAndGet();
          Outcome outcome = Outcome.newBuilder().setRequestId(response.getRequestId()).setItemId(scored.getItemId())
              .setTask("click").setValue(1).setEventTimeMs(now).build();
          outcomes.send(new ProducerRecord<>(outcomesTopic, response.getRequestId(), outcome.toByteArray()));
        }
      }
    }

    @Override
    public void close() throws InterruptedException {
      stopLive();
      outcomes.close(Duration.ofSeconds(5));
    }
  }
}
