package io.hiformer.features.data;

import io.hiformer.features.RawRecord;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One libFM / libFFM line: its label and (column, index, value) per token. Column {@code c}
 * reads as the index of its first token ({@link #bag} gives all of them) and column
 * {@code c.value} as that token's value.
 */
final class LibFmRecord implements RawRecord {
  static final String VALUE_SUFFIX = ".value";
  private final String labelColumn;
  private final String label;
  private final String[] columns;
  private final String[] indices;
  private final String[] values;
  private final Path file;
  private final int line;

  LibFmRecord(String labelColumn, String label, String[] columns, String[] indices, String[] values,
      Path file, int line) {
    this.labelColumn = labelColumn;
    this.label = label;
    this.columns = columns;
    this.indices = indices;
    this.values = values;
    this.file = file;
    this.line = line;
  }

  @Override
  public String value(String column) {
    if (column.equals(labelColumn)) {
      return label;
    }
    for (int i = 0; i < columns.length; i++) {
      if (columns[i].equals(column)) {
        return indices[i];
      }
    }
    if (column.endsWith(VALUE_SUFFIX)) {
      String base = column.substring(0, column.length() - VALUE_SUFFIX.length());
      for (int i = 0; i < columns.length; i++) {
        if (columns[i].equals(base)) {
          return values[i];
        }
      }
    }
    return null;
  }

  @Override
  public List<String> bag(String column, String separator) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < columns.length; i++) {
      if (columns[i].equals(column)) {
        out.add(indices[i]);
      }
    }
    return out;
  }

  @Override
  public String location() {
    return file + ":" + line;
  }
}
