package io.hiformer.features.data;

import io.hiformer.features.RawRecord;
import java.nio.file.Path;
import java.util.Map;

/** One CSV or TSV row: its cells, looked up through the file's shared header. */
final class DelimitedRecord implements RawRecord {
  private final Map<String, Integer> header;
  private final String[] cells;
  private final Path file;
  private final int line;

  DelimitedRecord(Map<String, Integer> header, String[] cells, Path file, int line) {
    this.header = header;
    this.cells = cells;
    this.file = file;
    this.line = line;
  }

  @Override
  public String value(String column) {
    Integer i = header.get(column);
    return i == null ? null : cells[i];
  }

  @Override
  public String location() {
    return file + ":" + line;
  }
}
