package io.hiformer.training;

/**
 * A training run that produced no model worth keeping: it diverged (non-finite loss, gradients or
 * weights, or a validation log loss far above the initial model's), trained no examples, or no
 * epoch improved on the initial model. Nothing may be written or published after it.
 */
public final class TrainingFailedException extends RuntimeException {
  public TrainingFailedException(String message) {
    super(message);
  }
}
