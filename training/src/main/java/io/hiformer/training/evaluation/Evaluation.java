package io.hiformer.training.evaluation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.Featurizer;
import io.hiformer.features.VerifiedModel;
import io.hiformer.features.OpenVocabularies;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.Hiformer;
import io.hiformer.training.PassProgress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * Offline A/B evaluation: scores every row of a source with every model version through the
 * serving path (each version's {@link Featurizer} and a {@link CpuScorer}), in one pass, and computes
 * per task and version AUC, log loss, calibration and ranking metrics, with paired group-bootstrap
 * intervals for the differences to the first version, overall and per slice.
 *
 * <p>Parallel: the calling thread reads the source and deals rows to worker threads by a hash of
 * their group, so each worker holds whole groups; each featurizes, scores and accumulates its
 * share, and the workers' sums are added at the end. Memory is bounded by the settings: queues of
 * a few chunks per worker, the rows of open groups (see {@link Aggregator}) and the accumulators
 * of each (slice value, version, task) per worker (see {@link Accumulator}).
 */
public final class Evaluation {
  static final int CHUNK = 256;
  private static final int QUEUED_CHUNKS = 4;
  static final String MISSING = "(missing)";
  static final String OTHER = "(other)";

  /**
   * Settings.
   *
   * @param bootstrap replicates (at least 20)
   * @param confidence of the intervals, in (0, 1)
   * @param seed of the replicate weights
   * @param ndcgAt the cut-offs k of NDCG@k
   * @param calibrationBins equal-width probability bins of the expected calibration error and reliability curve
   * @param groupBy the column that groups rows into requests; null: {@code request_id} when the data has it,
   *     else the baseline's first user-side field (for logged examples: {@code user_id})
   * @param groupWindow a group closes once this many rows passed since its last one; 0: at the end
   * @param slices columns to slice by
   * @param sliceValues distinct values per slice column with their own row; later ones are pooled as (other)
   * @param movers slice values flagged as largest movers per column
   * @param threads worker threads
   */
  public record Options(int bootstrap, double confidence, long seed, List<Integer> ndcgAt, int calibrationBins,
      String groupBy, long groupWindow, List<String> slices, int sliceValues, int movers, int threads) {

    public Options {
      ndcgAt = List.copyOf(ndcgAt);
      slices = List.copyOf(slices);
      require(bootstrap >= 20, "bootstrap replicates must be at least 20, got " + bootstrap);
      require(confidence > 0 && confidence < 1, "confidence must be in (0, 1), got " + confidence);
      require(ndcgAt.stream().allMatch(k -> k > 0), "NDCG cut-offs must be positive, got " + ndcgAt);
      require(calibrationBins > 0, "calibration bins must be positive, got " + calibrationBins);
      require(groupWindow >= 0, "group window must not be negative, got " + groupWindow);
      require(sliceValues > 0, "slice values must be positive, got " + sliceValues);
      require(movers >= 0, "movers must not be negative, got " + movers);
      require(threads > 0, "threads must be positive, got " + threads);
      require(slices.stream().distinct().count() == slices.size(), "slice columns repeat: " + slices);
    }

    public static Options defaults() {
      return new Options(500, 0.95, 1, List.of(10), 10, null, 1_000_000, List.of(), 30, 3,
          Runtime.getRuntime().availableProcessors());
    }

    Options withSlices(List<String> columns) {
      return new Options(bootstrap, confidence, seed, ndcgAt, calibrationBins, groupBy, groupWindow, columns,
          sliceValues, movers, threads);
    }

    public Options withThreads(int n) {
      return new Options(bootstrap, confidence, seed, ndcgAt, calibrationBins, groupBy, groupWindow, slices,
          sliceValues, movers, n);
    }

    public Options withBootstrap(int replicates) {
      return new Options(replicates, confidence, seed, ndcgAt, calibrationBins, groupBy, groupWindow, slices,
          sliceValues, movers, threads);
    }

    int[] ndcgArray() {
      return ndcgAt.stream().mapToInt(Integer::intValue).toArray();
    }

    private static void require(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }

  private final List<VerifiedModel> models;
  private final Options options;
  private final CpuKernels kernels;
  private final List<String> tasks;
  private final int[][] taskIndex;
  private final Accumulator.Layout layout;
  private final boolean sameTransforms;
  private final boolean sameFixedFields;
  private final List<SliceValues> sliceValues = new ArrayList<>();
  private final ConcurrentLinkedQueue<BadRowException> badFromWorkers = new ConcurrentLinkedQueue<>();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  private String groupColumn;

  private Evaluation(List<VerifiedModel> models, Options options, CpuKernels kernels) {
    if (models.isEmpty()) {
      throw new IllegalArgumentException("no model versions to evaluate");
    }
    this.models = List.copyOf(models);
    this.options = options;
    this.kernels = kernels;
    List<String> baseline = models.getFirst().parameters().config().tasks();
    this.tasks = baseline.stream()
        .filter(t -> models.stream().allMatch(m -> m.parameters().config().tasks().contains(t))).toList();
    if (tasks.isEmpty()) {
      throw new IllegalArgumentException("the versions share no task: " + models.stream()
          .map(m -> m.label() + " " + m.parameters().config().tasks()).toList());
    }
    this.taskIndex = new int[models.size()][tasks.size()];
    for (int v = 0; v < models.size(); v++) {
      for (int t = 0; t < tasks.size(); t++) {
        taskIndex[v][t] = models.get(v).parameters().config().tasks().indexOf(tasks.get(t));
      }
    }
    this.layout = Accumulator.Layout.of(options.bootstrap(), options.calibrationBins(), options.ndcgArray());
    String first = models.getFirst().transforms().toJson();
    this.sameTransforms = models.stream().allMatch(m -> m.transforms().toJson().equals(first));
    // Versions that differ only in open vocabularies (a grown version against its base) can share logged
    // examples: each looks its open fields' ids up again from the examples' raw ids, in its own vocabulary.
    Transforms base = models.getFirst().transforms();
    this.sameFixedFields = sameTransforms || base.hasOpenFields()
        && models.stream().allMatch(m -> base.sameFixedFields(m.transforms()));
    for (String column : options.slices()) {
      sliceValues.add(new SliceValues(column, options.sliceValues()));
    }
  }

  /**
   * Scores {@code source} with every version (the first is the baseline) and computes the
   * result. Bad rows (unreadable, or not featurizable by some version) go to {@code badRows},
   * which decides when to stop. {@code progress} gets a line now and then.
   */
  public static EvaluationResult run(List<VerifiedModel> models, EvalSource source, Options options,
      CpuKernels kernels, BadRows badRows, Consumer<String> progress) {
    return new Evaluation(models, options, kernels).pass(source, badRows, progress, null);
  }

  /** As above, with a progress bar counting the rows read ({@code bar} may be null). */
  public static EvaluationResult run(List<VerifiedModel> models, EvalSource source, Options options,
      CpuKernels kernels, BadRows badRows, Consumer<String> progress, PassProgress bar) {
    return new Evaluation(models, options, kernels).pass(source, badRows, progress, bar);
  }

  /** The metric names of every table under {@code options}, in order. */
  public static List<String> metricNames(Options options) {
    return MetricSet.of(options.ndcgArray()).stream().map(EvaluationResult.Metric::name).toList();
  }

  private EvaluationResult pass(EvalSource source, BadRows badRows, Consumer<String> progress, PassProgress bar) {
    long start = System.nanoTime();
    int threads = options.threads();
    List<Hiformer> networks = models.stream().map(m -> new Hiformer(m.parameters(), kernels)).toList();
    ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "hiformer-evaluate");
      t.setDaemon(true);
      return t;
    });
    Iterator<EvalRow> rows = source.iterator();
    try {
      if (!rows.hasNext()) {
        throw new IllegalArgumentException("no rows to evaluate in " + source.description());
      }
      EvalRow first = rows.next();
      groupColumn = chooseGroupColumn(first);
      requireSliceColumns(first);
      List<Worker> workers = new ArrayList<>();
      List<Future<Aggregator>> futures = new ArrayList<>();
      for (int w = 0; w < threads; w++) {
        Worker worker = new Worker(networks);
        workers.add(worker);
        futures.add(pool.submit(worker));
      }
      Chunk[] pending = new Chunk[threads];
      Arrays.setAll(pending, w -> new Chunk(sliceValues.size()));
      long seq = 0;
      long ungrouped = 0;
      for (EvalRow row = first; row != null; row = rows.hasNext() ? rows.next() : null) {
        String key = row.record().value(groupColumn);
        if (key == null || key.isEmpty()) {
          key = "\u0000row " + seq;  // no group id: the row is a group of its own
          ungrouped++;
        }
        long hash = Bootstrap.hash(key);
        int w = (int) Long.remainderUnsigned(hash, threads);
        Chunk c = pending[w];
        int i = c.size++;
        c.rows[i] = row;
        c.keys[i] = key;
        c.hashes[i] = hash;
        c.seqs[i] = seq++;
        for (int f = 0; f < sliceValues.size(); f++) {
          c.slices[i][f] = sliceValues.get(f).id(row.record().value(sliceValues.get(f).column));
        }
        if (c.size == CHUNK) {
          send(workers.get(w), c);
          pending[w] = new Chunk(sliceValues.size());
        }
        drainBadRows(badRows);
        if (bar != null) {
          bar.advance(1);
        } else if ((seq & ((1 << 20) - 1)) == 0) {
          progress.accept(String.format("%,d rows read", seq));
        }
      }
      for (int w = 0; w < threads; w++) {
        if (pending[w].size > 0) {
          send(workers.get(w), pending[w]);
        }
        send(workers.get(w), Chunk.END);
      }
      List<Aggregator> done = new ArrayList<>();
      for (Future<Aggregator> f : futures) {
        done.add(f.get());
      }
      drainBadRows(badRows);
      Aggregator all = done.getFirst();
      for (Aggregator a : done.subList(1, done.size())) {
        all.merge(a);
      }
      Aggregator.Cell overall = all.cells().get(Aggregator.OVERALL);
      if (overall == null) {
        throw new IllegalArgumentException("no row of " + source.description() + " could be scored");
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      if (bar != null) {
        bar.clear();
      }
      progress.accept(String.format("scored %,d rows with %d version%s in %.1f s (%,.0f rows/s)%s", overall.rows,
          models.size(), models.size() == 1 ? "" : "s", seconds, overall.rows / seconds, ungrouped == 0 ? ""
              : String.format("; %,d rows without %s are groups of their own", ungrouped, groupColumn)));
      List<EvaluationResult.ModelVersion> versions = models.stream().map(m -> new EvaluationResult.ModelVersion(
          m.name(), m.version(), m.label(), m.sha256(), m.parameters().config().variant().json())).toList();
      return new Results(versions, tasks, options, sliceValues).build(all, source.description(), groupColumn,
          badRows.count(), seconds);
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } finally {
      pool.shutdownNow();
      if (rows instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          throw rethrow(e);
        }
      }
    }
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) {
      return r;
    }
    if (t instanceof Error e) {
      throw e;
    }
    return new IllegalStateException(t.getMessage(), t);
  }

  /** Hands a chunk to a worker, waiting while its queue is full unless a worker has failed. */
  private void send(Worker worker, Chunk chunk) throws InterruptedException, ExecutionException {
    while (!worker.queue.offer(chunk, 50, TimeUnit.MILLISECONDS)) {
      if (failure.get() != null) {
        throw new ExecutionException(failure.get());
      }
    }
  }

  private void drainBadRows(BadRows badRows) {
    for (BadRowException e = badFromWorkers.poll(); e != null; e = badFromWorkers.poll()) {
      badRows.reject(e);
    }
  }

  /** A slice column the data lacks would give one "(missing)" slice of every row: refused instead. */
  private void requireSliceColumns(EvalRow first) {
    for (SliceValues s : sliceValues) {
      if (first.record().value(s.column) == null) {
        throw new IllegalArgumentException(first.record().location() + ": no column '" + s.column + "' to slice by");
      }
    }
  }

  private String chooseGroupColumn(EvalRow first) {
    if (options.groupBy() != null) {
      if (first.record().value(options.groupBy()) == null) {
        throw new IllegalArgumentException(first.record().location() + ": no column '" + options.groupBy()
            + "' to group by");
      }
      return options.groupBy();
    }
    String request = first.record().value("request_id");
    if (request != null && !request.isEmpty()) {
      return "request_id";
    }
    if (first.logged() != null) {
      return "user_id";
    }
    String user = userColumn(models.getFirst());
    if (user == null || first.record().value(user) == null) {
      throw new IllegalArgumentException(first.record().location() + ": no request_id column and no user column"
          + (user == null ? "" : " '" + user + "'") + " to group rows by; name one with the group-by option");
    }
    return user;
  }

  /** The raw column of the first categorical user-side field of the version's transforms, or null. */
  static String userColumn(VerifiedModel model) {
    try {
      JsonNode root = new ObjectMapper().readTree(model.transforms().toJson());
      for (JsonNode f : root.path("fields")) {
        if (f.path("side").asText().equals("user") && f.path("kind").asText().equals("categorical")) {
          return f.path("column").asText(f.path("name").asText());
        }
      }
      return null;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Ids of a slice column's values in order of first appearance, up to a cap, then one id for the rest. */
  static final class SliceValues {
    final String column;
    private final int cap;
    private final Map<String, Integer> ids = new HashMap<>();
    final List<String> names = new ArrayList<>();
    boolean capped;

    SliceValues(String column, int cap) {
      this.column = column;
      this.cap = cap;
    }

    int id(String value) {
      String v = value == null || value.isEmpty() ? MISSING : value;
      Integer id = ids.get(v);
      if (id == null && ids.size() - (capped ? 1 : 0) >= cap) {
        capped = true;
        v = OTHER;
        id = ids.get(v);
      }
      if (id == null) {
        id = names.size();
        names.add(v);
        ids.put(v, id);
      }
      return id;
    }
  }

  /** Rows on their way to a worker. */
  private static final class Chunk {
    static final Chunk END = new Chunk(0);
    final EvalRow[] rows = new EvalRow[CHUNK];
    final String[] keys = new String[CHUNK];
    final long[] hashes = new long[CHUNK];
    final long[] seqs = new long[CHUNK];
    final int[][] slices;
    int size;

    Chunk(int sliceFields) {
      slices = new int[CHUNK][sliceFields];
    }
  }

  /** Featurizes, scores and accumulates the groups dealt to it. */
  private final class Worker implements java.util.concurrent.Callable<Aggregator> {
    final BlockingQueue<Chunk> queue = new ArrayBlockingQueue<>(QUEUED_CHUNKS);
    private final List<Hiformer> networks;
    private final Aggregator aggregator;
    private final boolean[] bad = new boolean[CHUNK];
    private final float[] rowLogits = new float[models.size() * tasks.size()];
    private final float[] labels = new float[tasks.size()];
    private final float[] mask = new float[tasks.size()];

    Worker(List<Hiformer> networks) {
      this.networks = networks;
      this.aggregator = new Aggregator(layout, models.size(), tasks.size(), sliceValues.size(), options.seed(),
          options.groupWindow(), groupColumn);
    }

    @Override
    public Aggregator call() throws InterruptedException {
      int v = models.size();
      Featurizer[] featurizers = new Featurizer[v];
      ExampleRows[] exampleRows = new ExampleRows[v];
      Batch[] batches = new Batch[v];
      CpuScorer[] scorers = new CpuScorer[v];
      float[][] logits = new float[v][];
      try {
        for (int i = 0; i < v; i++) {
          VerifiedModel m = models.get(i);
          featurizers[i] = new Featurizer(m.transforms());
          exampleRows[i] = sameTransforms ? new ExampleRows(m.parameters().config())
              : new ExampleRows(m.parameters().config(), OpenVocabularies.of(m.transforms()));
          batches[i] = new Batch(m.parameters().config(), CHUNK);
          scorers[i] = new CpuScorer(networks.get(i), 1);
          logits[i] = new float[CHUNK * m.parameters().config().numTasks()];
        }
        while (true) {
          Chunk c = queue.take();
          if (c == Chunk.END) {
            aggregator.finish();
            return aggregator;
          }
          process(c, featurizers, exampleRows, batches, scorers, logits);
        }
      } catch (RuntimeException | Error e) {
        failure.compareAndSet(null, e);
        throw e;
      } finally {
        for (CpuScorer s : scorers) {
          if (s != null) {
            s.close();
          }
        }
      }
    }

    private void process(Chunk c, Featurizer[] featurizers, ExampleRows[] exampleRows, Batch[] batches,
        CpuScorer[] scorers, float[][] logits) {
      Arrays.fill(bad, 0, c.size, false);
      while (!featurize(c, featurizers, exampleRows, batches)) {
        // a row some version could not featurize is now marked bad: build the batches again without it
      }
      int versions = models.size();
      int taskCount = tasks.size();
      for (int v = 0; v < versions; v++) {
        if (batches[v].size() > 0) {
          scorers[v].score(batches[v], logits[v]);
        }
      }
      int j = 0;
      for (int i = 0; i < c.size; i++) {
        if (bad[i]) {
          continue;
        }
        for (int t = 0; t < taskCount; t++) {
          labels[t] = batches[0].label(j, taskIndex[0][t]);
          mask[t] = batches[0].labelMask(j, taskIndex[0][t]);
        }
        for (int v = 0; v < versions; v++) {
          int vt = models.get(v).parameters().config().numTasks();
          for (int t = 0; t < taskCount; t++) {
            float z = logits[v][j * vt + taskIndex[v][t]];
            if (!Float.isFinite(z)) {
              throw new IllegalStateException(c.rows[i].record().location() + ": " + models.get(v).label()
                  + " scored a non-finite logit (" + z + ") for task " + tasks.get(t));
            }
            rowLogits[v * taskCount + t] = z;
          }
        }
        aggregator.add(c.keys[i], c.hashes[i], c.seqs[i], rowLogits, labels, mask, c.slices[i],
            c.rows[i].record().location());
        j++;
      }
      aggregator.evictIdle(c.seqs[c.size - 1]);
    }

    /** Builds every version's batch from the chunk; false when a row turned out bad (it is then marked). */
    private boolean featurize(Chunk c, Featurizer[] featurizers, ExampleRows[] exampleRows, Batch[] batches) {
      for (Batch b : batches) {
        b.clear();
      }
      for (int i = 0; i < c.size; i++) {
        if (bad[i]) {
          continue;
        }
        EvalRow row = c.rows[i];
        if (row.logged() != null && !sameFixedFields) {
          throw new IllegalArgumentException(row.record().location() + ": logged examples hold inputs already "
              + "transformed by the serving version, but the versions compared have different feature transforms; "
              + "evaluate them on raw rows (CSV, TSV, libFM) instead");
        }
        for (int v = 0; v < batches.length; v++) {
          try {
            if (row.logged() != null) {
              exampleRows[v].add(row.logged(), batches[v]);
            } else {
              featurizers[v].add(row.record(), batches[v]);
            }
          } catch (BadRowException e) {
            return reject(i, e);
          } catch (IllegalArgumentException e) {
            return reject(i, new BadRowException(row.record().location(), e.getMessage()));
          }
        }
      }
      return true;
    }

    private boolean reject(int row, BadRowException e) {
      bad[row] = true;
      badFromWorkers.add(e);
      return false;
    }
  }
}
