package io.hiformer.features.data;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.proto.TrainingExample;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Files of length-delimited {@link TrainingExample}s ({@code writeDelimitedTo} /
 * {@code parseDelimitedFrom}), e.g. a dump of the {@code examples} topic. Their inputs are
 * already transformed, so they skip the featurizer and go to a batch through {@link ExampleRows}.
 */
public final class ExampleFiles {
  private ExampleFiles() {}

  /** Writes {@code examples} to {@code file}, replacing it. */
  public static void write(Path file, Iterable<TrainingExample> examples) throws IOException {
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
      for (TrainingExample e : examples) {
        e.writeDelimitedTo(out);
      }
    }
  }

  /**
   * The examples of {@code file} that fit {@code rows}' model config; the others go to
   * {@code badRows} located as {@code file:#n} (1-based). A message that cannot be parsed stops
   * the read whatever the policy: a length-delimited stream cannot find the next message after it.
   */
  public static Iterable<TrainingExample> read(Path file, ExampleRows rows, BadRows badRows) {
    return () -> new Examples(file, rows, badRows);
  }

  private static final class Examples extends ReadAhead<TrainingExample> {
    private final Path file;
    private final InputStream in;
    private final ExampleRows rows;
    private final BadRows badRows;
    private long count;

    Examples(Path file, ExampleRows rows, BadRows badRows) {
      this.file = file;
      this.rows = rows;
      this.badRows = badRows;
      try {
        this.in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
      }
    }

    @Override
    TrainingExample read() throws IOException {
      while (true) {
        count++;
        TrainingExample example;
        try {
          example = TrainingExample.parseDelimitedFrom(in);
        } catch (IOException e) {
          throw new BadRowException(file + ":#" + count, "not a length-delimited TrainingExample: " + e.getMessage(), e);
        }
        if (example == null) {
          return null;
        }
        try {
          rows.check(example);
          return example;
        } catch (IllegalArgumentException e) {
          badRows.reject(new BadRowException(file + ":#" + count, e.getMessage()));
        }
      }
    }

    @Override
    void release() throws IOException {
      in.close();
    }
  }
}
