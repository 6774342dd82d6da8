package io.hiformer.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.OpenVocabularies;
import io.hiformer.features.OpenVocabulary;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.VerifiedModel;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.features.data.Joins;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.TrainingExample;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Training jobs. From files: fits the schema's transforms on the training files, encodes
 * train, validation and test data through the {@link Featurizer} (the code serving uses), trains
 * with early stopping and reports. From an examples topic: takes the inputs exactly as served,
 * with the serving model's transforms. The result carries the model's metadata (transforms,
 * metrics) and its lineage (data files and hashes or topic offsets, config, metrics, source
 * commit) for publishing.
 */
public final class TrainJob {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The model's shape; fields and tasks come from the schema. */
  public record Shape(int tokenDim, int heads, int layers, int rankK, int rankV, int ffnMult, List<Integer> tower,
      int denseTokens, boolean pruneLastLayer, ModelConfig.Variant variant) {}

  /** What to train on and how. Data paths are relative to {@code dataDir}. */
  public record Spec(String name, Path schema, Path dataDir, List<String> train, List<String> valid, List<String> test,
      Shape shape, Trainer.Options trainer, int maxEpochs, int patience, long maxBadRows, Path checkpoints) {}

  /**
   * What to train on from an examples topic and how: the range {@code [from, validFrom)} trains,
   * {@code [validFrom, to)} validates; {@code base} gives the config and transforms and, with
   * {@code warmStart}, the initial weights.
   */
  public record ExamplesSpec(String name, ModelRegistry registry, ModelRegistry.Version base, boolean warmStart,
      String bootstrapServers, String topic, ExampleTopic.Bound from, ExampleTopic.Bound validFrom,
      ExampleTopic.Bound to, Trainer.Options trainer, int maxEpochs, int patience, long maxBadRows,
      Path checkpoints) {}

  /**
   * How data reaches the trainer: featurised caches in {@code cacheDir} (null: a temporary
   * directory removed after the run), shuffled through a window of {@code shuffleWindow} examples,
   * featurised on {@code threads} threads; an epoch's batches are assembled on {@code feedThreads}.
   */
  public record Pipeline(Path cacheDir, int shuffleWindow, int threads, int feedThreads) {
    /** The default shuffle window: a million examples, 8 MB of positions. */
    public static final int DEFAULT_WINDOW = 1 << 20;

    /** Batches assembled on every core. */
    public Pipeline(Path cacheDir, int shuffleWindow, int threads) {
      this(cacheDir, shuffleWindow, threads, Runtime.getRuntime().availableProcessors());
    }

    public static Pipeline defaults() {
      return new Pipeline(null, DEFAULT_WINDOW, Runtime.getRuntime().availableProcessors());
    }
  }

  /** The trained model, what to store with it, and the report. */
  public record Outcome(Parameters parameters, Map<String, String> metadata, String lineageJson,
      Map<String, Object> report) {}

  private TrainJob() {}

  public static Outcome run(Spec spec, CpuKernels kernels, TrainingRun.Progress progress) throws IOException {
    return run(spec, Pipeline.defaults(), kernels, progress);
  }

  /**
   * Fits the transforms in one streaming pass over the training files, featurises train,
   * validation and test files into caches (reused by later runs on the same files and
   * transforms) and trains from them: memory does not grow with the data. The fit's warnings
   * and each file set's bad rows are stored with their caches, so a run that reuses them
   * reports the same.
   */
  public static Outcome run(Spec spec, Pipeline pipeline, CpuKernels kernels, TrainingRun.Progress progress)
      throws IOException {
    return run(spec, pipeline, kernels, TrainingBackend.CPU, progress);
  }

  /** As {@link #run(Spec, Pipeline, CpuKernels, TrainingRun.Progress)}, steps on {@code backend}. */
  public static Outcome run(Spec spec, Pipeline pipeline, CpuKernels kernels, TrainingBackend backend,
      TrainingRun.Progress progress) throws IOException {
    long start = System.nanoTime();
    String schemaText = Files.readString(spec.schema());
    FeatureSchema schema = FeatureSchema.parse(schemaText);
    Joins joins = Joins.load(schema, spec.dataDir());
    try (Workspace ws = Workspace.open(pipeline, progress)) {
      ExampleCache cache = ws.cache();
      ExampleCache.Key fitKey = files(spec, schema, spec.train(), new ExampleCache.Key("transforms").add(schemaText)
          .add(Long.toString(spec.maxBadRows())));
      JsonNode fit = JSON.readTree(cache.text("transforms", fitKey, () -> {
        BadRows fitBad = BadRows.tolerate(spec.maxBadRows());
        List<String> found = new ArrayList<>();
        PassProgress bar = progress.pass("fitting transforms", "rows", -1);
        Transforms fitted = Transforms.fit(schema, counted(records(spec, joins, schema, spec.train(), fitBad), bar),
            fitBad, found);
        bar.done();
        ObjectNode stored = JSON.createObjectNode();
        stored.put("transforms", fitted.toJson());
        stored.set("warnings", JSON.valueToTree(found));
        return stored.toString();
      }));
      Transforms transforms = Transforms.fromJson(fit.get("transforms").asText());
      List<String> warnings = new ArrayList<>();
      fit.get("warnings").forEach(w -> warnings.add(w.asText()));
      for (String w : warnings) {
        progress.line("warning: " + w);
      }
      ModelConfig config = config(spec, transforms);
      String transformsJson = transforms.toJson();
      Map<String, JsonNode> bad = new LinkedHashMap<>();
      CachedExamples train = ws.add(cached(cache, "train", spec, joins, schema, spec.train(), transforms,
          transformsJson, config, pipeline, progress, bad));
      CachedExamples valid = ws.add(cached(cache, "valid", spec, joins, schema, spec.valid(), transforms,
          transformsJson, config, pipeline, progress, bad));
      CachedExamples test = spec.test().isEmpty() ? null : ws.add(cached(cache, "test", spec, joins, schema,
          spec.test(), transforms, transformsJson, config, pipeline, progress, bad));
      requireExamples(train, "training", spec.train());
      requireExamples(valid, "validation", spec.valid());
      progress.line(String.format("data: %,d training, %,d validation%s examples; %d tokens, %,d parameters",
          train.count(), valid.count(), test == null ? "" : String.format(", %,d test", test.count()),
          config.numTokens(), Parameters.zeros(config).count()));

      Map<String, Object> lineage = new LinkedHashMap<>();
      lineage.put("data", dataFiles(spec));
      lineage.put("schema", spec.schema().toString());
      Map<String, Object> reportData = new LinkedHashMap<>();
      reportData.put("bad_rows", badRows(bad, progress));
      reportData.put("warnings", warnings);
      return train(spec.name(), spec.trainer(), spec.maxEpochs(), spec.patience(), spec.maxBadRows(),
          pipeline, spec.checkpoints(), config, Parameters.initialize(config, spec.trainer().seed()),
          train, valid, test, transformsJson, lineage, reportData, kernels, backend, progress, start);
    }
  }

  private static ExampleCache.Key files(Spec spec, FeatureSchema schema, List<String> files, ExampleCache.Key key) {
    for (FeatureSchema.Join j : schema.joins()) {
      key.file(spec.dataDir().resolve(j.file()));
    }
    key.add("data");
    for (String f : files) {
      key.file(spec.dataDir().resolve(f));
    }
    return key;
  }

  /** The featurised examples of one file set; its bad-row report (stored with the cache) goes to {@code bad}. */
  private static CachedExamples cached(ExampleCache cache, String what, Spec spec, Joins joins, FeatureSchema schema,
      List<String> files, Transforms transforms, String transformsJson, ModelConfig config, Pipeline pipeline,
      TrainingRun.Progress progress, Map<String, JsonNode> bad) throws IOException {
    ExampleCache.Key key = files(spec, schema, files, new ExampleCache.Key("files").add(transformsJson)
        .add(Long.toString(spec.maxBadRows())));
    CachedExamples cached = cache.examples(what, key, config, out -> {
      BadRows rejected = BadRows.tolerate(spec.maxBadRows());
      PassProgress bar = progress.pass("caching " + what, "rows", -1);
      ParallelFeaturizer.run(records(spec, joins, schema, files, rejected), transforms, config, pipeline.threads(),
          rejected, out, bar);
      bar.done();
      return JSON.writeValueAsString(JSON.createObjectNode().set("bad_rows", skipped(rejected)));
    });
    bad.put(what, info(cached).get("bad_rows"));
    return cached;
  }

  private static JsonNode info(CachedExamples cached) throws IOException {
    return JSON.readTree(cached.info());
  }

  private static <T> Iterable<T> counted(Iterable<T> items, PassProgress bar) {
    return () -> new java.util.Iterator<>() {
      private final java.util.Iterator<T> it = items.iterator();

      @Override
      public boolean hasNext() {
        return it.hasNext();
      }

      @Override
      public T next() {
        bar.advance(1);
        return it.next();
      }
    };
  }

  private static void requireExamples(ExampleSource set, String what, List<String> files) {
    if (set.count() == 0) {
      throw new IllegalArgumentException("no " + what + " examples in " + String.join(", ", files)
          + " (no rows after the header, or every row skipped as bad)");
    }
  }

  /** One file set's (or range's) skipped bad rows for the report: the count and where the first were. */
  private static JsonNode skipped(BadRows b) {
    ObjectNode out = JSON.createObjectNode();
    out.put("skipped", b.count());
    out.set("first", JSON.valueToTree(b.skipped().stream().map(r -> r.location() + ": " + r.reason()).toList()));
    return out;
  }

  /** Bad rows skipped per file set: printed, and returned for the report (count and where). */
  private static Map<String, Object> badRows(Map<String, JsonNode> bad, TrainingRun.Progress progress) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : bad.entrySet()) {
      JsonNode b = e.getValue();
      long count = b.get("skipped").asLong();
      out.put(e.getKey(), JSON.convertValue(b, Map.class));
      if (count > 0) {
        progress.line(String.format("skipped %,d bad %s rows; first at %s%s", count, e.getKey(),
            b.get("first").get(0).asText(), count > 1 ? " (up to " + BadRows.KEPT + " in the report)" : ""));
      }
    }
    return out;
  }

  /**
   * One training job on logged examples (the joiner's topic): the base version fixes the config
   * and the feature transforms (the examples' inputs are in its schema), so the model trains on
   * exactly the inputs that were served. Trains on {@code [from, validFrom)}, stops early on
   * {@code [validFrom, to)}. Examples served by other versions count only when their transforms
   * are the base's; the others are skipped and counted in the report.
   */
  public static Outcome run(ExamplesSpec spec, CpuKernels kernels, TrainingRun.Progress progress) throws IOException {
    return run(spec, Pipeline.defaults(), kernels, progress);
  }

  /** As {@link #run(ExamplesSpec, CpuKernels, TrainingRun.Progress)}, the ranges cached by their offsets. */
  public static Outcome run(ExamplesSpec spec, Pipeline pipeline, CpuKernels kernels, TrainingRun.Progress progress)
      throws IOException {
    return run(spec, pipeline, kernels, TrainingBackend.CPU, progress);
  }

  /** As {@link #run(ExamplesSpec, Pipeline, CpuKernels, TrainingRun.Progress)}, steps on {@code backend}. */
  public static Outcome run(ExamplesSpec spec, Pipeline pipeline, CpuKernels kernels, TrainingBackend backend,
      TrainingRun.Progress progress)
      throws IOException {
    try (Workspace ws = Workspace.open(pipeline, progress)) {
      return fromTopic(spec, pipeline, ws, kernels, backend, progress);
    }
  }

  private static Outcome fromTopic(ExamplesSpec spec, Pipeline pipeline, Workspace ws, CpuKernels kernels,
      TrainingBackend backend,
      TrainingRun.Progress progress) throws IOException {
    long start = System.nanoTime();
    VerifiedModel base = VerifiedModel.load(spec.registry(), spec.base());
    String transforms = base.transformsJson();
    ModelConfig config = base.config();
    ExampleTopic.Range trainRange = ExampleTopic.resolve(spec.bootstrapServers(), spec.topic(), spec.from(),
        spec.validFrom());
    ExampleTopic.Range validRange = ExampleTopic.resolve(spec.bootstrapServers(), spec.topic(), spec.validFrom(),
        spec.to());
    Transforms baseTransforms;
    try {
      baseTransforms = Transforms.fromJson(transforms);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("base model " + spec.base().model() + " v" + spec.base().number()
          + ": its stored " + e.getMessage());
    }
    OpenVocabularies open = null;
    String trained = transforms;  // what the new version is stored with: the base's, its open vocabularies grown
    List<Map<String, Object>> growth = new ArrayList<>();
    List<OpenVocabularies.Growth> newRows = List.of();
    if (baseTransforms.hasOpenFields()) {
      OpenVocabularies.requireExampleColumns(baseTransforms);
      open = OpenVocabularies.of(baseTransforms);
      newRows = grow(spec, trainRange, config, transforms, baseTransforms, open, growth, progress);
      trained = open.snapshot().toJson();
    }
    SameTransforms select = new SameTransforms(spec.registry(), spec.base(), transforms, baseTransforms);
    Map<String, JsonNode> bad = new LinkedHashMap<>();
    CachedExamples train = ws.add(read(spec, ws.cache(), "train", trainRange, config, trained, open, select, bad,
        progress));
    CachedExamples valid = ws.add(read(spec, ws.cache(), "valid", validRange, config, trained, open, select, bad,
        progress));
    if (train.count() == 0 || valid.count() == 0) {
      throw new IllegalArgumentException("no " + (train.count() == 0 ? "training" : "validation") + " examples of "
          + spec.base().model() + " with the transforms of v" + spec.base().number() + " in "
          + (train.count() == 0 ? trainRange : validRange) + (select.skipped.isEmpty() ? "" : "; skipped " + select.skipped));
    }
    progress.line(String.format("data: %,d training, %,d validation examples from %s%s; %d tokens, %,d parameters",
        train.count(), valid.count(), spec.topic(), select.skipped.isEmpty() ? "" : " (skipped " + select.skipped + ")",
        config.numTokens(), base.parameters().count()));
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("topic", spec.topic());
    data.put("bootstrap_servers", spec.bootstrapServers());
    data.put("train", range(trainRange, train));
    data.put("valid", range(validRange, valid));
    data.put("skipped", select.skipped);
    if (open != null) {
      data.put("vocabularies", growth);
    }
    Map<String, Object> baseModel = new LinkedHashMap<>();
    baseModel.put("model", spec.base().model());
    baseModel.put("version", spec.base().number());
    baseModel.put("sha256", spec.base().sha256());
    baseModel.put("warm_start", spec.warmStart());
    Map<String, Object> lineage = new LinkedHashMap<>();
    lineage.put("data", data);
    lineage.put("base", baseModel);
    Parameters params = spec.warmStart() ? base.parameters().copy() : Parameters.initialize(config, spec.trainer().seed());
    if (spec.warmStart()) {
      for (OpenVocabularies.Growth g : newRows) {
        NewRows.initialise(params, g.tensor(), g.admitted());
      }
    }
    Map<String, Object> reportData = new LinkedHashMap<>();
    reportData.put("data", data);
    reportData.put("bad_rows", badRows(bad, progress));
    return train(spec.name(), spec.trainer(), spec.maxEpochs(), spec.patience(), spec.maxBadRows(),
        pipeline, spec.checkpoints(), config, params,
        train, valid, null, trained, lineage, reportData, kernels, backend, progress, start);
  }

  /**
   * Grows the open vocabularies over the training range, in reading order (one pass, before any
   * example is featurised, so that every example trains with the vocabulary the new version
   * records). Adds per open field what changed to {@code report}; returns the admitted rows, to
   * initialise.
   */
  private static List<OpenVocabularies.Growth> grow(ExamplesSpec spec, ExampleTopic.Range range, ModelConfig config,
      String transforms, Transforms base, OpenVocabularies open, List<Map<String, Object>> report,
      TrainingRun.Progress progress) {
    List<OpenVocabulary.Stats> before = open.stats();
    SameTransforms select = new SameTransforms(spec.registry(), spec.base(), transforms, base);
    PassProgress bar = progress.pass("growing vocabularies", "examples", range.size());
    // Bad examples are skipped here and counted by the featurising pass, which reads the same ones.
    for (TrainingExample e : ExampleTopic.read(spec.bootstrapServers(), range, select, new ExampleRows(config),
        BadRows.tolerate(spec.maxBadRows()))) {
      open.observe(OpenVocabularies.rawValues(e));
      bar.advance(1);
    }
    bar.done();
    List<OpenVocabularies.Growth> drained = open.drain();
    List<OpenVocabulary.Stats> after = open.stats();
    for (int i = 0; i < drained.size(); i++) {
      OpenVocabulary.Stats b = before.get(i);
      OpenVocabulary.Stats a = after.get(i);
      Map<String, Object> g = new LinkedHashMap<>();
      g.put("field", a.field());
      g.put("ids", a.size());
      g.put("max", a.capacity());
      g.put("admitted", a.admitted() - b.admitted());
      g.put("expired", a.expired() - b.expired());
      g.put("refused_at_max", a.refused() - b.refused());
      progress.line(String.format("vocabulary '%s': %,d ids of at most %,d (%,d admitted, %,d expired, %,d refused at"
          + " the maximum)", a.field(), a.size(), a.capacity(), a.admitted() - b.admitted(), a.expired() - b.expired(),
          a.refused() - b.refused()));
      report.add(g);
    }
    return drained;
  }

  private static Outcome train(String name, Trainer.Options options, int maxEpochs, int patience, long maxBadRows,
      Pipeline pipeline, Path checkpoints, ModelConfig config, Parameters params, ExampleSource train,
      ExampleSource valid, ExampleSource test,
      String transforms,
      Map<String, Object> lineageData, Map<String, Object> reportData, CpuKernels kernels,
      TrainingBackend backend, TrainingRun.Progress progress, long start) throws IOException {
    if (options.batchSize() > train.count()) {
      // One batch holds all the data either way; the workspace is sized by the batch, not the data.
      options = new Trainer.Options((int) train.count(), options.lr(), options.warmupSteps(), options.dropout(),
          options.adam(), options.threads(), options.seed(), options.ema());
    }
    Map<String, String> identity = new LinkedHashMap<>();
    identity.put("transforms", transforms);
    identity.put("data", JSON.writeValueAsString(lineageData.get("data")));
    identity.put("max_bad_rows", Long.toString(maxBadRows));  // which rows are kept
    identity.put("shuffle_window", Integer.toString(pipeline.shuffleWindow()));  // the order examples train in
    if (lineageData.containsKey("base")) {
      identity.put("base", JSON.writeValueAsString(lineageData.get("base")));  // the initial weights
    }
    TrainingRun.Result result;
    List<Metrics.Task> validMetrics;
    List<Metrics.Task> testMetrics = List.of();
    try (Trainer trainer = backend.open(params, options, kernels, progress)) {
      result = TrainingRun.run(trainer, train, valid,
          new TrainingRun.Options(maxEpochs, patience, checkpoints, options.seed(), identity, pipeline.feedThreads()),
          progress);
      try (CpuScorer scorer = new CpuScorer(trainer.evaluationModel(), options.threads())) {
        validMetrics = Metrics.evaluate(scorer, valid, 4096);
        if (test != null) {
          testMetrics = Metrics.evaluate(scorer, test, 4096);
        }
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    Map<String, Object> report = new LinkedHashMap<>();
    report.put("name", name);
    report.putAll(reportData);
    report.put("best_epoch", result.bestEpoch());
    report.put("epochs_run", result.epochs().size());
    report.put("valid", byTask(validMetrics));
    if (test != null) {
      report.put("test", byTask(testMetrics));
    }
    report.put("examples_per_second", result.epochs().stream().mapToDouble(TrainingRun.Epoch::examplesPerSecond)
        .average().orElse(Double.NaN));
    report.put("seconds", seconds);
    report.put("options", JSON.convertValue(Map.of("trainer", options.toString(), "max_epochs",
        maxEpochs, "patience", patience, "max_bad_rows", maxBadRows, "shuffle_window", pipeline.shuffleWindow()), Map.class));
    report.put("config", JSON.readTree(config.toJson()));
    report.put("history", history(result));

    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put(Transforms.METADATA_KEY, transforms);
    metadata.put("metrics", JSON.writeValueAsString(Map.of("valid", byTask(validMetrics), "test", byTask(testMetrics))));
    Map<String, Object> lineage = new LinkedHashMap<>(lineageData);
    lineage.put("config", JSON.readTree(config.toJson()));
    lineage.put("metrics", report.get("valid"));
    lineage.put("test_metrics", report.get("test"));
    lineage.put("trainer", options.toString());
    lineage.put("source_commit", SourceCommit.find());
    return new Outcome(params, metadata, JSON.writeValueAsString(lineage), report);
  }

  private static Map<String, Object> range(ExampleTopic.Range range, ExampleSource examples) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("from", range.from().toString());
    m.put("to", range.to().toString());
    m.put("examples", examples.count());
    return m;
  }

  /**
   * The examples of {@code range} that {@code select} accepts, cached under the resolved offsets
   * and the transforms they are featurised with (the base's, open fields grown: their ids are
   * {@code open}'s rows for the examples' raw ids); the skipped counts are stored with them.
   */
  private static CachedExamples read(ExamplesSpec spec, ExampleCache cache, String what, ExampleTopic.Range range,
      ModelConfig config, String transforms, OpenVocabularies open, SameTransforms select,
      Map<String, JsonNode> badRows, TrainingRun.Progress progress) throws IOException {
    ExampleCache.Key key = new ExampleCache.Key("topic").add(spec.topic()).add(range.toString()).add(transforms)
        .add(config.toJson()).add(spec.base().model()).add(spec.base().sha256())
        .add(spec.registry().root().toAbsolutePath().toString()).add(Long.toString(spec.maxBadRows()));
    boolean[] made = {false};
    CachedExamples cached = cache.examples(what, key, config, out -> {
      made[0] = true;
      BadRows bad = BadRows.tolerate(spec.maxBadRows());
      ExampleRows rows = new ExampleRows(config, open);
      Batch batch = new Batch(config, 4096);
      PassProgress bar = progress.pass("reading " + what, "examples", range.size());
      Map<String, Long> start = new TreeMap<>(select.skipped);
      for (TrainingExample e : ExampleTopic.read(spec.bootstrapServers(), range, select, rows, bad)) {
        rows.add(e, batch);
        if (batch.size() == batch.capacity()) {
          out.add(batch);
          bar.advance(batch.size());
          batch.clear();
        }
      }
      out.add(batch);
      bar.advance(batch.size());
      bar.done();
      Map<String, Long> skipped = new TreeMap<>();
      select.skipped.forEach((k, v) -> {
        long n = v - start.getOrDefault(k, 0L);
        if (n > 0) {
          skipped.put(k, n);
        }
      });
      ObjectNode info = JSON.createObjectNode();
      info.set("skipped", JSON.valueToTree(skipped));
      info.set("bad_rows", skipped(bad));
      return JSON.writeValueAsString(info);
    });
    JsonNode info = info(cached);
    if (!made[0]) {
      // From the cache: the skipped counts were stored with the examples.
      info.get("skipped").properties().forEach(e -> select.skipped.merge(e.getKey(), e.getValue().asLong(), Long::sum));
    }
    badRows.put(what, info.get("bad_rows"));
    return cached;
  }

  /**
   * Accepts examples served by the base model's name with the base's transforms (the base
   * version, or another whose stored transforms are identical, open vocabularies aside); counts
   * the rest by version.
   */
  static final class SameTransforms implements Predicate<TrainingExample> {
    private final ModelRegistry registry;
    private final ModelRegistry.Version base;
    private final String transforms;
    private final Transforms parsed;
    private final Map<Long, Boolean> same = new HashMap<>();
    final Map<String, Long> skipped = new TreeMap<>();

    SameTransforms(ModelRegistry registry, ModelRegistry.Version base, String transforms, Transforms parsed) {
      this.registry = registry;
      this.base = base;
      this.transforms = transforms;
      this.parsed = parsed;
      same.put(base.number(), true);
    }

    @Override
    public boolean test(TrainingExample e) {
      boolean ok = e.getModelName().equals(base.model())
          && same.computeIfAbsent(e.getModelVersion(), this::hasBaseTransforms);
      if (!ok) {
        skipped.merge(e.getModelName() + " v" + e.getModelVersion(), 1L, Long::sum);
      }
      return ok;
    }

    private boolean hasBaseTransforms(long version) {
      try {
        var v = registry.version(base.model(), version);
        String other = VerifiedModel.load(registry, v).transformsJson();
        // Open fields' ids are looked up again from the raw ids; the other fields must match.
        return transforms.equals(other) || parsed.hasOpenFields() && parsed.sameFixedFields(Transforms.fromJson(other));
      } catch (IOException | RuntimeException e) {
        return false; // not in this registry, or unreadable: its inputs cannot be trusted to match
      }
    }
  }

  static ModelConfig config(Spec spec, Transforms t) {
    Shape s = spec.shape();
    boolean dense = t.modelFields().stream().anyMatch(f -> f.kind() == ModelConfig.FieldKind.DENSE);
    return new ModelConfig(spec.name(), s.tokenDim(), s.heads(), s.layers(), t.tasks(), s.rankK(), s.rankV(),
        s.ffnMult(), s.tower(), dense ? s.denseTokens() : 0, s.pruneLastLayer(), t.modelFields())
        .withVariant(s.variant());
  }

  private static Iterable<RawRecord> records(Spec spec, Joins joins, FeatureSchema schema, List<String> files,
      BadRows bad) {
    List<Iterable<RawRecord>> parts = new ArrayList<>();
    for (String f : files) {
      parts.add(joins.join(RecordFiles.open(spec.dataDir().resolve(f), schema, bad)));
    }
    return concatenated(parts);
  }

  /**
   * The items of {@code parts} in order, pulled one at a time. Not {@code Stream.flatMap(...).iterator()}:
   * that buffers a whole inner part (a whole file of records) before handing out its first item.
   */
  static <T> Iterable<T> concatenated(List<? extends Iterable<? extends T>> parts) {
    return () -> new java.util.Iterator<T>() {
      private int part;
      private java.util.Iterator<? extends T> current = java.util.Collections.emptyIterator();

      @Override
      public boolean hasNext() {
        while (!current.hasNext() && part < parts.size()) {
          current = parts.get(part++).iterator();
        }
        return current.hasNext();
      }

      @Override
      public T next() {
        if (!hasNext()) {
          throw new java.util.NoSuchElementException();
        }
        return current.next();
      }
    };
  }

  private static Map<String, Object> byTask(List<Metrics.Task> metrics) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Metrics.Task t : metrics) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("auc", t.aucDefined() ? t.auc() : null);  // never NaN: an undefined AUC is no number
      if (!t.aucDefined()) {
        m.put("auc_undefined", t.aucUndefinedReason());
      }
      m.put("logloss", t.logloss());
      m.put("examples", t.count());
      m.put("positives", t.positives());
      out.put(t.task(), m);
    }
    return out;
  }

  private static List<Map<String, Object>> history(TrainingRun.Result r) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (TrainingRun.Epoch e : r.epochs()) {
      out.add(Map.of("epoch", e.epoch(), "train_loss", e.trainLoss(), "valid", byTask(e.valid()),
          "examples_per_second", e.examplesPerSecond()));
    }
    return out;
  }

  private static List<Map<String, String>> dataFiles(Spec spec) throws IOException {
    List<Map<String, String>> out = new ArrayList<>();
    List<String> all = new ArrayList<>(spec.train());
    all.addAll(spec.valid());
    all.addAll(spec.test());
    for (String f : all) {
      Path p = spec.dataDir().resolve(f);
      out.add(Map.of("file", p.toString(), "sha256", sha256(p)));
    }
    return out;
  }

  static String sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n = in.read(buf); n > 0; n = in.read(buf)) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
