package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class AucTest {
  @Test
  void countsTiesAsOneHalf() {
    // positives 0.8, 0.5; negatives 0.5, 0.1: pairs (0.8>0.5) 1, (0.8>0.1) 1, (0.5=0.5) 1/2, (0.5>0.1) 1
    float[] scores = {0.8f, 0.5f, 0.5f, 0.1f};
    float[] labels = {1, 1, 0, 0};
    assertThat(Auc.of(scores, labels, 4)).isCloseTo(3.5 / 4, within(1e-12));
  }

  @Test
  void perfectAndReversedOrders() {
    assertThat(Auc.of(new float[] {0.9f, 0.2f}, new float[] {1, 0}, 2)).isEqualTo(1.0);
    assertThat(Auc.of(new float[] {0.2f, 0.9f}, new float[] {1, 0}, 2)).isEqualTo(0.0);
    assertThat(Auc.of(new float[] {0.2f, 0.9f}, new float[] {1, 1}, 2)).isNaN();
  }

  @Test
  void nonFiniteScoresGiveNoNumber() {
    float[] labels = {1, 0, 1};
    assertThat(Auc.of(new float[] {0.9f, Float.NaN, 0.1f}, labels, 3)).isNaN();
    assertThat(Auc.of(new float[] {Float.POSITIVE_INFINITY, 0.2f, 0.1f}, labels, 3)).isNaN();
  }

  @Test
  void theMeanAucSkipsTasksWhereItIsUndefined() {
    var defined = new Metrics.Task("click", 0.75, 0.5, 10, 4);
    var noPositives = new Metrics.Task("buy", Double.NaN, 0.1, 10, 0);
    assertThat(Metrics.meanAuc(java.util.List.of(defined, noPositives))).isEqualTo(0.75);
    assertThat(Metrics.meanAuc(java.util.List.of(noPositives))).isNaN();
    assertThat(noPositives.aucUndefinedReason()).isEqualTo("no positive labels in 10 examples");
  }
}
