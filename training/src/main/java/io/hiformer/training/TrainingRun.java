package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Epochs of training with early stopping on validation AUC (the mean over the tasks where it is
 * defined), a checkpoint after every epoch and resume from one. Ends with the best epoch's weights
 * in the trainer.
 *
 * <p>A run that did not learn fails ({@link TrainingFailedException}) instead of returning: the
 * initial model is scored first (epoch 0) and an epoch is best only when it beats every earlier
 * one, so a run where no epoch beat the initial model, or that trained no examples, fails. So does
 * a run that diverges: a non-finite loss or gradient (checked every step), a non-finite weight or
 * a validation log loss above {@link #DIVERGED} times the initial model's (checked every epoch).
 * Divergence stops the run rather than rolling back: the learning rate that diverged once would
 * diverge again, and the checkpoint of the last good epoch stays on disk.
 */
public final class TrainingRun {
  /** How many times the initial model's validation log loss (at least ln 2's) counts as divergence. */
  static final double DIVERGED = 10;

  /**
   * {@code checkpoints} may be null (no checkpoints, no resume). {@code identity} names what,
   * besides the model config and trainer options, makes the result what it is (transforms, data):
   * a checkpoint written under another identity is not resumed. {@code feedThreads} assemble the
   * training batches ({@link ExampleSource#feed}); they change no result.
   */
  public record Options(int maxEpochs, int patience, Path checkpoints, long seed, Map<String, String> identity,
      int feedThreads) {
    public Options {
      if (feedThreads < 1) {
        throw new IllegalArgumentException("feed threads must be at least 1, got " + feedThreads);
      }
      if (maxEpochs < 1) {
        throw new IllegalArgumentException("epochs must be at least 1, got " + maxEpochs);
      }
      if (patience < 1) {
        throw new IllegalArgumentException("patience must be at least 1, got " + patience);
      }
      identity = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(identity));
    }

    /** Batches assembled on every core. */
    public Options(int maxEpochs, int patience, Path checkpoints, long seed, Map<String, String> identity) {
      this(maxEpochs, patience, checkpoints, seed, identity, Runtime.getRuntime().availableProcessors());
    }

    public Options(int maxEpochs, int patience, Path checkpoints, long seed) {
      this(maxEpochs, patience, checkpoints, seed, Map.of());
    }
  }

  /** One epoch's figures. */
  public record Epoch(int epoch, double trainLoss, List<Metrics.Task> valid, double examplesPerSecond,
      double seconds) {}

  /** The outcome: the epochs run (this process), the best epoch and its validation figures. */
  public record Result(List<Epoch> epochs, int bestEpoch, double bestScore, boolean resumed) {}

  private TrainingRun() {}

  public static Result run(Trainer trainer, ExampleSource train, ExampleSource valid, Options o, Progress progress)
      throws IOException {
    if (train.count() == 0) {
      throw new TrainingFailedException("no training examples: there is nothing to learn from");
    }
    Parameters params = trainer.evaluationParameters();
    Parameters best = params.copy();
    Map<String, String> extra = new LinkedHashMap<>(o.identity());
    extra.put("patience", Integer.toString(o.patience()));
    Map<String, String> identity = Checkpoint.identity(trainer.options(), params.config().toJson(), extra);
    List<Epoch> epochs = new ArrayList<>();
    int batchSize = trainer.options().batchSize();
    Checkpoint.State state;
    boolean resumed;
    try (Checkpoint.Lock lock = o.checkpoints() == null ? null : Checkpoint.lock(o.checkpoints());
        CpuScorer scorer = new CpuScorer(trainer.evaluationModel(), trainer.options().threads());
        BatchFeed feed = train.feed(batchSize, o.feedThreads())) {
      resumed = Checkpoint.exists(o.checkpoints());
      if (resumed) {
        state = Checkpoint.restore(o.checkpoints(), trainer, best, identity);
        progress.line("resumed from " + o.checkpoints().resolve(Checkpoint.FILE) + " after epoch " + state.epoch());
      } else {
        state = initial(Metrics.evaluate(scorer, valid, 4096), progress);
      }
      for (int e = state.epoch() + 1; e <= o.maxEpochs() && state.epochsWithoutGain() < o.patience(); e++) {
        long start = System.nanoTime();
        double loss = 0;
        int steps = 0;
        PassProgress bar = progress.pass("epoch " + e, "examples", train.count());
        for (Iterator<Batch> pass = feed.pass(o.seed() * 1_000_003L + e); pass.hasNext(); ) {
          Batch b = pass.next();
          try {
            loss += trainer.step(b);
          } catch (TrainingFailedException diverged) {
            throw diverged(e, diverged.getMessage());
          }
          steps++;
          bar.advance(b.size());
        }
        bar.clear();
        trainer.settle();
        String weight = nonFinite(trainer.parameters());
        if (weight == null && params != trainer.parameters()) {
          weight = nonFinite(params);  // the moving average
        }
        if (weight != null) {
          throw diverged(e, "a weight of " + weight + " is not finite");
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Metrics.Task> metrics = Metrics.evaluate(scorer, valid, 4096);
        Epoch epoch = new Epoch(e, loss / Math.max(1, steps), metrics, train.count() / seconds, seconds);
        epochs.add(epoch);
        double logloss = Metrics.meanLogloss(metrics);
        double limit = DIVERGED * Math.max(state.initialLogloss(), Math.log(2));
        if (!(logloss <= limit)) {
          progress.epoch(epoch, false);
          throw diverged(e, String.format("validation log loss %.4g is above %.0f times the initial model's %.4f",
              logloss, DIVERGED, state.initialLogloss()));
        }
        double score = Metrics.meanAuc(metrics);
        if (score > state.bestScore()) {
          copy(params, best);
          state = new Checkpoint.State(e, score, e, 0, state.initialLogloss());
        } else {
          state = new Checkpoint.State(e, state.bestScore(), state.bestEpoch(), state.epochsWithoutGain() + 1,
              state.initialLogloss());
        }
        progress.epoch(epoch, state.bestEpoch() == e);
        if (o.checkpoints() != null) {
          Checkpoint.write(o.checkpoints(), trainer, best, state, identity);
        }
      }
    }
    if (state.bestEpoch() == 0) {
      throw new TrainingFailedException(epochs.isEmpty() && !resumed
          ? "no epoch ran"
          : String.format("no epoch improved on the initial model's validation AUC %.4f in %d epochs; the model did"
              + " not learn", state.bestScore(), state.epoch()));
    }
    copy(best, params);
    copy(best, trainer.parameters());
    return new Result(epochs, state.bestEpoch(), state.bestScore(), resumed);
  }

  /** Scores the initial model (epoch 0): the score every epoch must beat, or a failure when none can be defined. */
  private static Checkpoint.State initial(List<Metrics.Task> metrics, Progress progress) {
    double score = Metrics.meanAuc(metrics);
    if (Double.isNaN(score)) {
      throw new TrainingFailedException("validation AUC is undefined for every task (" + undefined(metrics)
          + "): early stopping cannot tell a trained model from an untrained one; give validation data with"
          + " positive and negative labels");
    }
    StringBuilder line = new StringBuilder(String.format("epoch 0 (initial model): valid AUC %.4f", score));
    if (metrics.stream().anyMatch(t -> !t.aucDefined())) {
      line.append(" over the tasks where it is defined; undefined: ").append(undefined(metrics));
    }
    progress.line(line.toString());
    return new Checkpoint.State(0, score, 0, 0, Metrics.meanLogloss(metrics));
  }

  static String undefined(List<Metrics.Task> metrics) {
    StringBuilder sb = new StringBuilder();
    for (Metrics.Task t : metrics) {
      if (!t.aucDefined()) {
        sb.append(sb.isEmpty() ? "" : "; ").append(t.task()).append(": ").append(t.aucUndefinedReason());
      }
    }
    return sb.toString();
  }

  private static TrainingFailedException diverged(int epoch, String why) {
    return new TrainingFailedException("training diverged in epoch " + epoch + ": " + why
        + "; nothing is kept (a lower learning rate may help)");
  }

  /** The name of a tensor of {@code p} holding a NaN or infinity, or null. */
  private static String nonFinite(Parameters p) {
    for (Parameters.Tensor t : p.tensors()) {
      double sum = 0;
      for (float v : t.data()) {
        sum += v;
      }
      if (!Double.isFinite(sum)) {
        return t.name();
      }
    }
    return null;
  }

  private static void copy(Parameters from, Parameters to) {
    for (Parameters.Tensor t : from.tensors()) {
      System.arraycopy(t.data(), 0, to.get(t.name()), 0, t.size());
    }
  }

  /** Where a run reports: a progress bar with ETA on a terminal, plain lines otherwise. */
  public static final class Progress {
    private final PrintStream out;
    private final boolean terminal;

    public Progress(PrintStream out, boolean terminal) {
      this.out = out;
      this.terminal = terminal;
    }

    /** Progress to standard output, drawn as a bar when it is a terminal. */
    public static Progress console() {
      var console = System.console();
      return new Progress(System.out, console != null && console.isTerminal());
    }

    public void line(String s) {
      out.println(s);
    }

    PrintStream out() {
      return out;
    }

    /** A progress bar (or plain lines) for one pass over {@code total} items (-1: unknown). */
    public PassProgress pass(String name, String unit, long total) {
      return new PassProgress(out, terminal, name, unit, total);
    }

    void epoch(Epoch e, boolean best) {
      StringBuilder sb = new StringBuilder();
      sb.append(terminal ? "\r" : "").append(String.format("epoch %d: train loss %.4f", e.epoch(), e.trainLoss()));
      for (Metrics.Task t : e.valid()) {
        sb.append(t.aucDefined()
            ? String.format(", %s valid AUC %.4f logloss %.4f", t.task(), t.auc(), t.logloss())
            : String.format(", %s valid AUC undefined (%s) logloss %.4f", t.task(), t.aucUndefinedReason(), t.logloss()));
      }
      sb.append(String.format(", %,.0f examples/s, %.1f s%s", e.examplesPerSecond(), e.seconds(), best ? " (best)" : ""));
      out.println(sb);
    }
  }
}
