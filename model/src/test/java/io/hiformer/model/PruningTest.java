package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.kernels.CpuKernels;
import java.util.SplittableRandom;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;

/** docs/model.md, Pruning: pruning the last layer to the task tokens never changes the logits. */
class PruningTest {

  @RepeatedTest(5)
  void prunedModelEqualsUnprunedOneOnTaskRows(RepetitionInfo info) {
    SplittableRandom rnd = new SplittableRandom(info.getCurrentRepetition());
    ModelConfig pruned = TestModels.randomConfig(rnd, 1 + info.getCurrentRepetition() % 3, 1 + rnd.nextInt(3),
        true, rnd.nextBoolean(), rnd.nextBoolean());
    ModelConfig unpruned = new ModelConfig(pruned.name(), pruned.tokenDim(), pruned.heads(), pruned.layers(),
        pruned.tasks(), pruned.rankK(), pruned.rankV(), pruned.ffnMult(), pruned.towerHidden(),
        pruned.denseTokens(), false, pruned.fields());
    Parameters full = TestModels.randomParameters(unpruned, rnd);
    Parameters cut = Parameters.zeros(pruned);
    int skipRows = pruned.numTokens() - pruned.numTasks();
    for (Parameters.Tensor t : cut.tensors()) {
      float[] src = full.get(t.name());
      float[] dst = t.data();
      // per-row tensors of the last layer keep only the task rows: the trailing rows of the full one
      System.arraycopy(src, src.length - dst.length, dst, 0, dst.length);
      if (src.length != dst.length) {
        assertThat(src.length - dst.length).isEqualTo(skipRows * (dst.length / pruned.numTasks()));
      }
    }
    Batch batch = TestModels.randomBatch(pruned, 7, rnd);
    float[] a = logits(new Hiformer(full, CpuKernels.best()), batch);
    float[] b = logits(new Hiformer(cut, CpuKernels.best()), batch);
    assertThat(b).containsExactly(a, org.assertj.core.data.Offset.offset(1e-5f));
    float largest = 0;
    for (float x : a) {
      largest = Math.max(largest, Math.abs(x));
    }
    assertThat(largest).as("largest logit").isGreaterThan(1e-3f);
  }

  private static float[] logits(Hiformer model, Batch batch) {
    Activations act = new Activations(model.config(), batch.size(), false);
    model.forward(batch, 0, batch.size(), act);
    return java.util.Arrays.copyOf(act.logits(), batch.size() * model.config().numTasks());
  }
}
