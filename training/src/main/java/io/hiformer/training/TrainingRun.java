package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.Parameters;
import io.hiformer.model.Scorer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Epochs of training with early stopping on validation AUC (the mean over tasks), a checkpoint
 * after every epoch and resume from one. Ends with the best epoch's weights in the trainer.
 */
public final class TrainingRun {

  /** {@code checkpoints} may be null (no checkpoints, no resume). */
  public record Options(int maxEpochs, int patience, Path checkpoints, long seed) {}

  /** One epoch's figures. */
  public record Epoch(int epoch, double trainLoss, List<Metrics.Task> valid, double examplesPerSecond,
      double seconds) {}

  /** The outcome: the epochs run (this process), the best epoch and its validation figures. */
  public record Result(List<Epoch> epochs, int bestEpoch, double bestScore, boolean resumed) {}

  private TrainingRun() {}

  public static Result run(Trainer trainer, ExampleSource train, ExampleSource valid, Options o, Progress progress)
      throws IOException {
    Parameters params = trainer.evaluationParameters();
    Parameters best = params.copy();
    Checkpoint.State state = new Checkpoint.State(0, Double.NEGATIVE_INFINITY, 0, 0);
    boolean resumed = Checkpoint.exists(o.checkpoints());
    if (resumed) {
      state = Checkpoint.restore(o.checkpoints(), trainer, best);
      progress.line("resumed from " + o.checkpoints().resolve(Checkpoint.FILE) + " after epoch " + state.epoch());
    }
    List<Epoch> epochs = new ArrayList<>();
    int batchSize = trainer.options().batchSize();
    try (Scorer scorer = new Scorer(trainer.evaluationModel(), trainer.options().threads())) {
      for (int e = state.epoch() + 1; e <= o.maxEpochs() && state.epochsWithoutGain() < o.patience(); e++) {
        long start = System.nanoTime();
        double loss = 0;
        int steps = 0;
        PassProgress bar = progress.pass("epoch " + e, "examples", train.count());
        for (Batch b : train.batches(batchSize, true, o.seed() * 1_000_003L + e)) {
          loss += trainer.step(b);
          steps++;
          bar.advance(b.size());
        }
        bar.clear();
        trainer.optimizer().settle();
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Metrics.Task> metrics = Metrics.evaluate(scorer, valid, 4096);
        Epoch epoch = new Epoch(e, loss / Math.max(1, steps), metrics, train.count() / seconds, seconds);
        epochs.add(epoch);
        double score = meanAuc(metrics);
        if (score > state.bestScore()) {
          copy(params, best);
          state = new Checkpoint.State(e, score, e, 0);
        } else {
          state = new Checkpoint.State(e, state.bestScore(), state.bestEpoch(), state.epochsWithoutGain() + 1);
        }
        progress.epoch(epoch, state.bestEpoch() == e);
        if (o.checkpoints() != null) {
          Checkpoint.write(o.checkpoints(), trainer, best, state);
        }
      }
    }
    copy(best, params);
    copy(best, trainer.parameters());
    return new Result(epochs, state.bestEpoch(), state.bestScore(), resumed);
  }

  static double meanAuc(List<Metrics.Task> metrics) {
    double sum = 0;
    for (Metrics.Task t : metrics) {
      sum += t.auc();
    }
    return sum / metrics.size();
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
        sb.append(String.format(", %s valid AUC %.4f logloss %.4f", t.task(), t.auc(), t.logloss()));
      }
      sb.append(String.format(", %,.0f examples/s, %.1f s%s", e.examplesPerSecond(), e.seconds(), best ? " (best)" : ""));
      out.println(sb);
    }
  }
}
