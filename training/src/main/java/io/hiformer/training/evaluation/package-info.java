/**
 * Offline A/B evaluation: scores every row of a source with every model version through the
 * serving path in one streamed pass and reports per task and version AUC, log loss, calibration
 * and ranking metrics, and differences to the first version with paired group-bootstrap intervals,
 * overall and per slice.
 *
 * <p>Entry points: {@link io.hiformer.training.evaluation.Evaluation#run} over an {@link
 * io.hiformer.training.evaluation.EvalSource} ({@link io.hiformer.training.evaluation.FileSource}
 * or {@link io.hiformer.training.evaluation.TopicSource}) and {@link
 * io.hiformer.features.VerifiedModel}s, giving an {@link
 * io.hiformer.training.evaluation.EvaluationResult}; {@link
 * io.hiformer.training.evaluation.Reports} writes {@code report.html} and {@code summary.json};
 * {@link io.hiformer.training.evaluation.Requirement} gates a pipeline on the differences. The
 * accumulators, bootstrap, metric code and plotting are package-private.
 */
package io.hiformer.training.evaluation;
