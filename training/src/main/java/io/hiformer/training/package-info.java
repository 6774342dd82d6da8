/**
 * Training: the data-parallel trainer on the model's own forward and backward (lazy Adam for
 * embeddings, decoupled weight decay, dropout, warm-up, moving average), epochs with early stopping
 * on validation AUC, checkpoints and exact resume, metrics, and training jobs from files (through a
 * featurised example cache) or from a range of the examples topic. Behaviour and figures in
 * {@code training/README.md}.
 *
 * <p>Entry points: {@link io.hiformer.training.TrainJob} (a whole job: files or topic in, model
 * file or registry version out; fails with {@link io.hiformer.training.TrainingFailedException}),
 * and for code that trains directly {@link io.hiformer.training.Trainer}, {@link
 * io.hiformer.training.Adam}, {@link io.hiformer.training.TrainingRun}, {@link
 * io.hiformer.training.ExampleSource} ({@link io.hiformer.training.ExampleSet} in memory) and
 * {@link io.hiformer.training.Metrics} ({@link io.hiformer.training.Auc}, log loss). Synthetic
 * data: {@link io.hiformer.training.SyntheticCtr} (small, planted interaction) and {@link
 * io.hiformer.training.ClickLogGenerator} (any size). The example cache, its file format,
 * checkpoints, the parallel featurizer and the sparse-row bookkeeping are package-private.
 */
package io.hiformer.training;
