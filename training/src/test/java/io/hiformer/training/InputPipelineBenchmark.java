package io.hiformer.training;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The input pipeline beside the trainer, in one run, in examples/s. {@code fromCache} takes the
 * batches of shuffled epochs (the one-million-example window, a new seed each pass) from a
 * featurised cache through the parallel feed ({@link ExampleSource#feed}) of {@code threads}
 * threads at batch {@code batch}, as an epoch does; {@code trainerStep} is a CPU training step
 * (forward, backward, Adam; one trainer thread per available processor) on batches from the same
 * feed. Nothing is allocated per batch: check with {@code -prof gc}.
 *
 * <p>{@code shape}: {@code ref-serving}, the bundled reference model (24 categorical, 8 dense
 * fields, 2 tasks) over {@code rows} synthetic rows written straight into the cache (uniform ids
 * in each field's vocabulary, dense values uniform in [-1, 1), labels 1 one time in 10); or {@code click-log}, 500,000
 * rows of {@code hiformer data synthetic}'s generator through fitting and the featurizer, the
 * default model shape (d 16, 2 layers, tower 64,32).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
public class InputPipelineBenchmark {
  static final int CLICK_LOG_ROWS = 500_000;

  @Param({"ref-serving", "click-log"})
  public String shape;

  @Param("1")
  public int threads;

  @Param("4096")
  public int batch;

  /** Rows of the ref-serving cache (the click-log one has {@value #CLICK_LOG_ROWS}). */
  @Param("2000000")
  public int rows;

  private Path dir;
  private CachedExamples cache;
  private BatchFeed feed;
  private Trainer trainer;
  private Iterator<Batch> pass;
  private long seed;

  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Examples {
    public long examples;

    @Setup(Level.Iteration)
    public void reset() {
      examples = 0;
    }
  }

  @Setup
  public void setUp() throws IOException {
    dir = Files.createTempDirectory("hiformer-pipeline-bench");
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
    ExampleCache examples = new ExampleCache(dir.resolve("cache"), TrainJob.Pipeline.DEFAULT_WINDOW, quiet);
    ModelConfig config;
    if (shape.equals("ref-serving")) {
      config = BundledConfigs.get(BundledConfigs.REF_SERVING);
      cache = examples.examples("bench", new ExampleCache.Key("bench"), config, out -> {
        writeSynthetic(config, rows, out);
        return "";
      });
    } else if (shape.equals("click-log")) {
      Path csv = dir.resolve("train.csv");
      new ClickLogGenerator(1, 10_000_000, 1_000_000).writeCsv(csv, 0, CLICK_LOG_ROWS);
      FeatureSchema schema = FeatureSchema.parse(ClickLogGenerator.schemaYaml());
      Transforms transforms = Transforms.fit(schema, RecordFiles.csv(csv, BadRows.none()));
      TrainJob.Spec spec = new TrainJob.Spec("bench", dir, dir, List.of(), List.of(), List.of(),
          new TrainJob.Shape(16, 2, 2, 32, 64, 2, List.of(64, 32), 1, true, ModelConfig.Variant.HIFORMER), null, 1, 1,
          0, null);
      config = TrainJob.config(spec, transforms);
      cache = examples.examples("bench", new ExampleCache.Key("bench"), config, out -> {
        ParallelFeaturizer.run(RecordFiles.csv(csv, BadRows.none()), transforms, config,
            Runtime.getRuntime().availableProcessors(), BadRows.none(), out, new PassProgress(quiet, false, "", "", -1));
        return "";
      });
    } else {
      throw new IllegalArgumentException("shape must be ref-serving or click-log, got " + shape);
    }
    feed = cache.feed(batch, threads);
    trainer = new Trainer(Parameters.initialize(config, 1), new Trainer.Options(batch, 1e-3, 0,
        new Dropout(0.2f, 0.2f, 0.2f, 0.2f), Adam.Settings.defaults(), Runtime.getRuntime().availableProcessors(), 1),
        CpuKernels.best());
  }

  /** {@code n} rows of {@code config}'s shape: uniform ids, dense values in [-1, 1), labels 0 or 1. */
  static void writeSynthetic(ModelConfig config, int n, CacheWriter out) throws IOException {
    List<ModelConfig.Field> cats = config.categoricalFields();
    int[][] bags = new int[config.bagFields().size()][0];
    int[] ids = new int[cats.size()];
    float[] dense = new float[config.numDense()];
    float[] labels = new float[config.numTasks()];
    float[] mask = new float[config.numTasks()];
    java.util.Arrays.fill(mask, 1f);
    SplittableRandom random = new SplittableRandom(7);
    Batch b = new Batch(config, 4096);
    for (int done = 0; done < n; done += b.size()) {
      b.clear();
      for (int e = 0; e < Math.min(4096, n - done); e++) {
        for (int c = 0; c < ids.length; c++) {
          ids[c] = random.nextInt(cats.get(c).vocab());
        }
        for (int d = 0; d < dense.length; d++) {
          dense[d] = (float) (random.nextDouble() * 2 - 1);
        }
        for (int t = 0; t < labels.length; t++) {
          labels[t] = random.nextInt(10) == 0 ? 1f : 0f;
        }
        b.add(ids, bags, dense, labels, mask);
      }
      out.add(b);
    }
  }

  private Batch nextBatch() {
    if (pass == null || !pass.hasNext()) {
      pass = feed.pass(++seed);
    }
    return pass.next();
  }

  @Benchmark
  public int fromCache(Examples counter) {
    Batch b = nextBatch();
    counter.examples += b.size();
    return b.categorical(0, 0);
  }

  @Benchmark
  public double trainerStep(Examples counter) {
    Batch b = nextBatch();
    counter.examples += b.size();
    return trainer.step(b);
  }

  @TearDown
  public void tearDown() throws IOException {
    trainer.close();
    feed.close();
    cache.close();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
