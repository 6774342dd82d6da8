package io.hiformer.training.evaluation;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.data.ExampleFiles;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.features.data.Joins;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.TrainingExample;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.stream.Collectors;

/**
 * Rows from files, one after the other: CSV, TSV and libFM files (optionally {@code .gz}) through
 * {@link RecordFiles}, with the schema's side tables joined on, and files of length-delimited
 * {@link TrainingExample}s ({@code .pb}) through {@link ExampleFiles}. Bad rows go to the given
 * {@link BadRows}.
 */
public final class FileSource implements EvalSource {
  private final List<Path> files;
  private final FeatureSchema schema;
  private final Joins joins;
  private final ModelConfig loggedConfig;
  private final BadRows badRows;

  private FileSource(List<Path> files, FeatureSchema schema, Joins joins, ModelConfig loggedConfig, BadRows badRows) {
    this.files = List.copyOf(files);
    this.schema = schema;
    this.joins = joins;
    this.loggedConfig = loggedConfig;
    this.badRows = badRows;
  }

  /**
   * {@code schema} (may be null) gives the side tables, read from {@code dataDir}, and the libFM
   * layout; {@code loggedConfig} is the config {@code .pb} examples are checked against.
   */
  public static FileSource of(List<Path> files, FeatureSchema schema, Path dataDir, ModelConfig loggedConfig,
      BadRows badRows) {
    if (files.isEmpty()) {
      throw new IllegalArgumentException("no data files given");
    }
    FeatureSchema layout = schema != null ? schema
        : new FeatureSchema(List.of(), List.of(), List.of(), List.of(), FeatureSchema.LibFm.defaults());
    return new FileSource(files, layout, Joins.load(layout, dataDir), loggedConfig, badRows);
  }

  static boolean isLogged(Path file) {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    return name.endsWith(".pb");
  }

  @Override
  public String description() {
    return files.stream().map(Path::toString).collect(Collectors.joining(", "));
  }

  @Override
  public Iterator<EvalRow> iterator() {
    return new Rows();
  }

  /** The files' rows in order; closes each file's reader when it is done or this is closed. */
  private final class Rows implements Iterator<EvalRow>, AutoCloseable {
    private int next;
    private Iterator<EvalRow> current;
    private Iterator<?> underlying;

    @Override
    public boolean hasNext() {
      while (current == null || !current.hasNext()) {
        closeCurrent();
        if (next == files.size()) {
          return false;
        }
        open(files.get(next++));
      }
      return true;
    }

    private void open(Path file) {
      if (isLogged(file)) {
        Iterator<TrainingExample> examples = ExampleFiles.read(file, new ExampleRows(loggedConfig), badRows).iterator();
        underlying = examples;
        current = new Iterator<>() {
          private long count;

          @Override
          public boolean hasNext() {
            return examples.hasNext();
          }

          @Override
          public EvalRow next() {
            // Bad examples are skipped inside the reader, so this count is of the examples handed out.
            return EvalRow.logged(examples.next(), file + ":#" + ++count);
          }
        };
      } else {
        Iterator<RawRecord> records = RecordFiles.open(file, schema, badRows).iterator();
        underlying = records;
        current = new Iterator<>() {
          @Override
          public boolean hasNext() {
            return records.hasNext();
          }

          @Override
          public EvalRow next() {
            return EvalRow.raw(joins.join(records.next()));
          }
        };
      }
    }

    @Override
    public EvalRow next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return current.next();
    }

    private void closeCurrent() {
      if (underlying instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }
      underlying = null;
      current = null;
    }

    @Override
    public void close() {
      closeCurrent();
    }
  }
}
