package io.hiformer.training.evaluation;

/**
 * Where the rows of an evaluation come from, read once, in order, streamed: files
 * ({@link FileSource}) or a range of offsets of the {@code examples} topic ({@link TopicSource},
 * each record value a {@code TrainingExample}, handed out as {@link EvalRow#logged}). Every
 * {@code iterator()} reads the source from its start; an iterator abandoned early is closed with
 * {@link AutoCloseable#close()} when it implements it.
 */
public interface EvalSource extends Iterable<EvalRow> {

  /** What the rows are, for the report (file names, or topic, partitions and offsets). */
  String description();

  /** How many rows a pass reads at most, for progress; -1 when not known beforehand. */
  default long size() {
    return -1;
  }
}
