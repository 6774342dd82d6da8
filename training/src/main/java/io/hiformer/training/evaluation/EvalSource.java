package io.hiformer.training.evaluation;

/**
 * Where the rows of an evaluation come from, read once, in order: files ({@link FileSource}) or,
 * once the streaming module provides one, a range of offsets of the {@code examples} topic (each
 * record value a {@code TrainingExample}, handed out as {@link EvalRow#logged}). Every
 * {@code iterator()} reads the source from its start; an iterator abandoned early is closed with
 * {@link AutoCloseable#close()} when it implements it.
 */
public interface EvalSource extends Iterable<EvalRow> {

  /** What the rows are, for the report (file names, or topic, partitions and offsets). */
  String description();
}
