package io.hiformer.training;

import io.hiformer.features.OpenVocabulary;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.TrainingExample;
import java.util.List;

/**
 * The hook through which growing vocabularies join the continuous trainer ({@link FollowTrainer}).
 * The trainer calls {@link #observe} for every example it is about to put in a training batch
 * (held-out examples are not shown to it), {@link #beforeStep} between steps (the batch full,
 * before the update), saves {@link #state()} in each checkpoint generation (file
 * {@code vocabulary.bin}, covered by the generation's checksum) and hands it back through
 * {@link #restore} on resume, and publishes each version with {@link #transforms}.
 * Training and held-out examples are featurised with {@link #rows}, made after {@link #restore}.
 * {@link #NONE} keeps the base version's vocabularies fixed; when none is attached and the base
 * has open fields, the trainer grows them ({@link OpenFollowVocabulary}).
 */
public interface FollowVocabulary {
  /**
   * Sees an example before it joins a batch and returns the example to train on (the same one,
   * or one whose ids were mapped to admitted rows).
   */
  TrainingExample observe(TrainingExample example);

  /** Between steps: (re)initialise the rows admitted (or expired) since the last step, weights and Adam moments. */
  void beforeStep(Trainer trainer);

  /** The state to checkpoint with the weights; null when there is none. */
  byte[] state();

  /** Restores what {@link #state()} returned in the checkpoint being resumed. */
  void restore(byte[] state);

  /**
   * The transforms (JSON) a published version stores, given the base's: the base's while the
   * vocabularies are fixed, the grown ones otherwise.
   */
  default String transforms(String base) {
    return base;
  }

  /** How examples become model rows: with the vocabularies as they are now (made after {@link #restore}). */
  default ExampleRows rows(ModelConfig config) {
    return new ExampleRows(config);
  }

  /** Each growing field's figures (size, admitted, expired, refused), for metrics; empty while fixed. */
  default List<OpenVocabulary.Stats> stats() {
    return List.of();
  }

  FollowVocabulary NONE = new FollowVocabulary() {
    @Override
    public TrainingExample observe(TrainingExample example) {
      return example;
    }

    @Override
    public void beforeStep(Trainer trainer) {}

    @Override
    public byte[] state() {
      return null;
    }

    @Override
    public void restore(byte[] state) {}
  };
}
