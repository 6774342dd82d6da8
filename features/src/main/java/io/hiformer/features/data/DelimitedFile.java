package io.hiformer.features.data;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.RawRecord;
import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** A CSV or TSV file with a header line; see {@link RecordFiles#csv}. */
final class DelimitedFile implements Iterable<RawRecord> {
  private final Path file;
  private final char separator;
  private final BadRows badRows;

  DelimitedFile(Path file, char separator, BadRows badRows) {
    this.file = file;
    this.separator = separator;
    this.badRows = badRows;
  }

  @Override
  public Iterator<RawRecord> iterator() {
    return new Rows(RecordFiles.openText(file));
  }

  private final class Rows extends ReadAhead<RawRecord> {
    private final Reader reader;
    private final DelimitedParser parser;
    private final List<String> cells = new ArrayList<>();
    private final Map<String, Integer> header = new HashMap<>();

    Rows(Reader reader) {
      this.reader = reader;
      this.parser = new DelimitedParser(reader, separator);
      try {
        readHeader();
      } catch (IOException e) {
        close();
        throw new UncheckedIOException(e.getMessage(), e);
      } catch (RuntimeException e) {
        close();
        throw e;
      }
    }

    private void readHeader() throws IOException {
      if (!parser.next(cells)) {
        throw new BadRowException(file + ":1", "the file is empty; expected a header line naming the columns");
      }
      if (parser.error() != null) {
        throw new BadRowException(file + ":" + parser.startLine(), "header: " + parser.error());
      }
      // A UTF-8 byte order mark would otherwise become part of the first column's name.
      cells.set(0, cells.getFirst().startsWith("\uFEFF") ? cells.getFirst().substring(1) : cells.getFirst());
      for (int i = 0; i < cells.size(); i++) {
        if (header.putIfAbsent(cells.get(i), i) != null) {
          throw new BadRowException(file + ":" + parser.startLine(),
              "header: column '" + cells.get(i) + "' appears twice");
        }
      }
    }

    @Override
    RawRecord read() throws IOException {
      while (parser.next(cells)) {
        String problem = parser.error() != null ? parser.error()
            : cells.size() != header.size()
                ? "expected " + header.size() + " columns as in the header, got " + cells.size()
                : null;
        if (problem == null) {
          return new DelimitedRecord(header, cells.toArray(String[]::new), file, parser.startLine());
        }
        badRows.reject(new BadRowException(file + ":" + parser.startLine(), problem));
      }
      return null;
    }

    @Override
    void release() throws IOException {
      reader.close();
    }
  }
}
