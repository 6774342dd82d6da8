package io.hiformer.features.data;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema.LibFm;
import io.hiformer.features.RawRecord;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

/** A libFM / libSVM / libFFM text file; see {@link RecordFiles#libFm}. */
final class LibFmFile implements Iterable<RawRecord> {
  private final Path file;
  private final LibFm layout;
  private final BadRows badRows;
  private final long[] firsts;
  private final List<LibFm.Range> ranges;

  LibFmFile(Path file, LibFm layout, BadRows badRows) {
    this.file = file;
    this.layout = layout;
    this.badRows = badRows;
    this.ranges = layout.ranges().stream().sorted(Comparator.comparingLong(LibFm.Range::first)).toList();
    this.firsts = ranges.stream().mapToLong(LibFm.Range::first).toArray();
  }

  @Override
  public Iterator<RawRecord> iterator() {
    BufferedReader reader = new BufferedReader(RecordFiles.openText(file), 1 << 16);
    return new ReadAhead<>() {
      private int line;

      @Override
      RawRecord read() throws IOException {
        String text;
        while ((text = reader.readLine()) != null) {
          line++;
          if (text.isBlank()) {
            continue;
          }
          try {
            return parse(text, line);
          } catch (BadRowException e) {
            badRows.reject(e);
          }
        }
        return null;
      }

      @Override
      void release() throws IOException {
        reader.close();
      }
    };
  }

  private RawRecord parse(String text, int line) {
    String where = file + ":" + line;
    String[] tokens = text.strip().split("\\s+");
    int n = tokens.length - 1;
    String[] columns = new String[n];
    String[] indices = new String[n];
    String[] values = new String[n];
    for (int t = 0; t < n; t++) {
      String token = tokens[t + 1];
      int first = token.indexOf(':');
      int last = token.lastIndexOf(':');
      long colons = token.chars().filter(ch -> ch == ':').count();
      if (colons < 1 || colons > 2 || first == 0 || last == token.length() - 1 || last == first + 1) {
        throw new BadRowException(where, "token '" + token + "' is not index:value or field:index:value");
      }
      indices[t] = token.substring(first == last ? 0 : first + 1, last);
      values[t] = token.substring(last + 1);
      if (!isNumber(values[t])) {
        throw new BadRowException(where, "token '" + token + "': value '" + values[t] + "' is not a number");
      }
      columns[t] = first == last ? column(indices[t], token, where) : token.substring(0, first);
    }
    return new LibFmRecord(layout.labelColumn(), tokens[0], columns, indices, values, file, line);
  }

  /** The column of a global feature index: the range holding it, else the index itself. */
  private String column(String index, String token, String where) {
    long i;
    try {
      i = Long.parseLong(index);
    } catch (NumberFormatException e) {
      throw new BadRowException(where, "token '" + token + "': index '" + index + "' is not a whole number");
    }
    int at = Arrays.binarySearch(firsts, i);
    int r = at >= 0 ? at : -at - 2;
    return r >= 0 && i <= ranges.get(r).last() ? ranges.get(r).column() : index;
  }

  private static boolean isNumber(String s) {
    try {
      Double.parseDouble(s);
      return true;
    } catch (NumberFormatException e) {
      return false;
    }
  }
}
