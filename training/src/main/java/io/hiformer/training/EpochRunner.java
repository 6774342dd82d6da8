package io.hiformer.training;

import io.hiformer.model.Activations;
import io.hiformer.model.Batch;
import io.hiformer.model.Hiformer;
import io.hiformer.model.Parameters;

/**
 * The plainest training loop: forward, loss, backward, Adam, one mini-batch at a time on one
 * thread, through the model's own forward and backward. Evaluation scores with the same forward.
 */
public final class EpochRunner {
  private final Hiformer model;
  private final Adam optimizer;
  private final Activations act;
  private final Parameters grads;

  public EpochRunner(Hiformer model, Adam optimizer, int batchCapacity) {
    this.model = model;
    this.optimizer = optimizer;
    this.act = new Activations(model.config(), batchCapacity, true);
    this.grads = Parameters.zeros(model.config());
  }

  /** One pass over {@code batches}; returns the mean training loss. */
  public double train(Iterable<Batch> batches) {
    double loss = 0;
    int steps = 0;
    for (Batch b : batches) {
      grads.zero();
      model.forward(b, 0, b.size(), act);
      loss += model.loss(b, 0, b.size(), act, b.size());
      model.backward(b, 0, b.size(), act, grads, b.size());
      optimizer.step(grads);
      steps++;
    }
    return loss / Math.max(1, steps);
  }

  /** AUC of task {@code task} over {@code batches}, scored by the forward pass. */
  public double auc(Iterable<Batch> batches, int task) {
    int total = 0;
    for (Batch b : batches) {
      total += b.size();
    }
    float[] scores = new float[total];
    float[] labels = new float[total];
    int t = model.config().numTasks();
    int k = 0;
    for (Batch b : batches) {
      model.forward(b, 0, b.size(), act);
      for (int i = 0; i < b.size(); i++, k++) {
        scores[k] = act.logits()[i * t + task];
        labels[k] = b.label(i, task);
      }
    }
    return Auc.of(scores, labels, total);
  }
}
