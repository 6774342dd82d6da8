package io.hiformer.training;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The input pipeline beside the trainer, in one run, in examples/s: {@code fromCache} hands out
 * shuffled batches of 1,024 from a featurised cache of 500,000 synthetic click-log rows
 * ({@code hiformer data synthetic}'s generator) through the one-million-example shuffle window,
 * as an epoch does; {@code trainerStep} is a training step of the default model shape (d 16,
 * 2 layers, tower 64,32) on 2 threads on batches from the same cache.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
public class InputPipelineBenchmark {
  static final int ROWS = 500_000;
  static final int BATCH = 1024;

  private Path dir;
  private CachedExamples cache;
  private Trainer trainer;
  private Iterator<Batch> batches;
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
    Path csv = dir.resolve("train.csv");
    new ClickLogGenerator(1, 10_000_000, 1_000_000).writeCsv(csv, 0, ROWS);
    FeatureSchema schema = FeatureSchema.parse(ClickLogGenerator.schemaYaml());
    Transforms transforms = Transforms.fit(schema, RecordFiles.csv(csv, BadRows.none()));
    TrainJob.Spec spec = new TrainJob.Spec("bench", dir, dir, List.of(), List.of(), List.of(),
        new TrainJob.Shape(16, 2, 2, 32, 64, 2, List.of(64, 32), 1, true, ModelConfig.Variant.HIFORMER), null, 1, 1, 0,
        null);
    ModelConfig config = TrainJob.config(spec, transforms);
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
    ExampleCache examples = new ExampleCache(dir.resolve("cache"), TrainJob.Pipeline.DEFAULT_WINDOW, quiet);
    cache = examples.examples("bench", new ExampleCache.Key("bench"), config, out -> {
      ParallelFeaturizer.run(RecordFiles.csv(csv, BadRows.none()), transforms, config,
          Runtime.getRuntime().availableProcessors(), BadRows.none(), out, new PassProgress(quiet, false, "", "", -1));
      return "";
    });
    trainer = new Trainer(Parameters.initialize(config, 1), new Trainer.Options(BATCH, 1e-3, 0,
        new Dropout(0.2f, 0.2f, 0.2f, 0.2f), Adam.Settings.defaults(), 2, 1), CpuKernels.best());
  }

  private Batch nextBatch() {
    if (batches == null || !batches.hasNext()) {
      batches = cache.batches(BATCH, true, ++seed).iterator();
    }
    return batches.next();
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
    cache.close();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
