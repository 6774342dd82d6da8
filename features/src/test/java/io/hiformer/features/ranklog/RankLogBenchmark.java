package io.hiformer.features.ranklog;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.Hiformer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import java.io.IOException;
import java.io.OutputStream;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.utils.ByteBufferOutputStream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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
 * What the rank log adds to a Rank call of the ref-serving model, in microseconds per call, next
 * to the call's scoring in the same run: {@code score} (the model on the call's batch, SIMD, 2
 * threads), {@code entry} (building the call's {@link RankLogEntry} on the call's thread, as
 * {@code RankLog} does, plus its size, which the writer's offer computes) and {@code serialize}
 * (its bytes, on the writer's thread). See features/README.md for the command and figures.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx2g"})
public class RankLogBenchmark {

  @Param({"200"})
  int candidates;

  private ModelConfig config;
  private CpuScorer scorer;
  private Batch batch;
  private float[] logits;
  private float[] scores;
  private int[] positions;
  private RankRequest request;
  private RankLogEntry built;

  @Setup
  public void setUp() throws IOException {
    config = BundledConfigs.get(BundledConfigs.REF_SERVING);
    scorer = new CpuScorer(new Hiformer(Parameters.initialize(config, 42), CpuKernels.best()), 2);
    SplittableRandom rnd = new SplittableRandom(7);
    batch = new Batch(config, candidates);
    int[] ids = new int[config.categoricalFields().size()];
    int[][] bags = new int[config.bagFields().size()][];
    float[] dense = new float[config.numDense()];
    RankRequest.Builder r = RankRequest.newBuilder().setUserId("u42")
        .putContext("hour", FeatureValue.newBuilder().setCategorical("7").build());
    for (int i = 0; i < candidates; i++) {
      for (int c = 0; c < ids.length; c++) {
        ids[c] = rnd.nextInt(config.categoricalFields().get(c).vocab());
      }
      for (int k = 0; k < bags.length; k++) {
        bags[k] = rnd.ints(3, 0, config.bagFields().get(k).vocab()).toArray();
      }
      for (int d = 0; d < dense.length; d++) {
        dense[d] = (float) rnd.nextGaussian();
      }
      batch.add(ids, bags, dense, null, null);
      r.addCandidates(Candidate.newBuilder().setItemId("i" + rnd.nextInt(1_000_000)));
    }
    request = r.build();
    logits = new float[candidates * config.numTasks()];
    scores = new float[candidates];
    positions = new int[candidates];
    for (int i = 0; i < candidates; i++) {
      scores[i] = rnd.nextFloat();
      positions[i] = candidates - 1 - i;
    }
    built = build();
  }

  @TearDown
  public void tearDown() {
    scorer.close();
  }

  @Benchmark
  public float[] score() {
    scorer.score(batch, logits);
    return logits;
  }

  @Benchmark
  public int entry() {
    return build().getSerializedSize();
  }

  /** The entry's bytes written straight from the buffers, as the ranker logs it. */
  @Benchmark
  public int encoded() {
    return RankLogEntries.encode(request, "req-1", new RankLogEntries.Served("ref", 1, "default", config, 1L), batch,
        logits, scores, positions, candidates).length;
  }

  @Benchmark
  public byte[] serialize() {
    return built.toByteArray();
  }

  /** Serialized and compressed as the writer's producer does (lz4, record format v2), on its own threads. */
  @Benchmark
  public int serializeLz4() throws IOException {
    ByteBufferOutputStream out = new ByteBufferOutputStream(64 * 1024);
    try (OutputStream lz4 = Compression.lz4().build().wrapForOutput(out, (byte) 2)) {
      built.writeTo(lz4);
    }
    return out.position();
  }

  private RankLogEntry build() {
    return RankLogEntries.entry(request, "req-1", new RankLogEntries.Served("ref", 1, "default", config, 1L),
        batch, logits, scores, positions, candidates);
  }
}
