package io.hiformer.features.data;

import java.io.IOException;
import java.io.Reader;
import java.util.List;

/**
 * Splits delimited text into records per RFC 4180: fields separated by one character, optionally
 * quoted with {@code "}; inside quotes, separators and line breaks are data and {@code ""} is one
 * quote. Records end at LF, CRLF or a lone CR. Blank lines are skipped. A quote inside an unquoted
 * field is kept as data (common in the wild); text after a closing quote, or a quote left open at
 * the end of the input, makes the record malformed ({@link #error()}). So does a cell longer than
 * {@link #MAX_CELL_CHARS} (kept no further, so memory stays bounded; such a value must not reach a
 * vocabulary or a model file) and a cell holding U+FFFD, which is what invalid UTF-8 decodes to.
 */
final class DelimitedParser {
  /** The longest cell a record may hold, in characters. */
  static final int MAX_CELL_CHARS = 1 << 16;
  private static final int EOF = -1;
  private final Reader in;
  private final char separator;
  private final char[] buffer = new char[1 << 16];
  private final StringBuilder cell = new StringBuilder();
  private int position;
  private int limit;
  private int pushedBack = -2;
  private int line = 1;
  private int startLine;
  private String error;

  DelimitedParser(Reader in, char separator) {
    this.in = in;
    this.separator = separator;
  }

  /** Reads the next record's fields into {@code out}; false at the end of the input. */
  boolean next(List<String> out) throws IOException {
    out.clear();
    error = null;
    int c = read();
    while (c == '\n' || c == '\r') {
      c = endOfLine(c);
    }
    if (c == EOF) {
      return false;
    }
    startLine = line;
    while (true) {
      cell.setLength(0);
      if (c == '"') {
        c = quoted();
      } else {
        while (c != separator && c != '\n' && c != '\r' && c != EOF) {
          append(c);
          c = read();
        }
      }
      out.add(cell.toString());
      if (c != separator) {
        if (c != EOF) {
          pushBack(endOfLine(c));
        }
        return true;
      }
      c = read();
    }
  }

  /** Reads a quoted field into {@code cell}; returns the character after it. */
  private int quoted() throws IOException {
    while (true) {
      int c = read();
      if (c == EOF) {
        error = "a quoted field is not closed before the end of the file";
        return EOF;
      }
      if (c == '"') {
        c = read();
        if (c != '"') {
          while (c != separator && c != '\n' && c != '\r' && c != EOF) {
            error = "unexpected text after a closing quote (quotes inside a quoted field must be doubled)";
            append(c);
            c = read();
          }
          return c;
        }
      } else if (c == '\n' || c == '\r') {
        // Kept as written (LF, CR or CRLF): a quoted line break is data.
        append(c);
        int next = c == '\r' ? read() : EOF;
        if (next == '\n') {
          append('\n');
        } else if (c == '\r') {
          pushBack(next);
        }
        line++;
        continue;
      }
      append(c);
    }
  }

  private void append(int c) {
    if (cell.length() == MAX_CELL_CHARS) {
      if (error == null) {
        error = "a cell is longer than " + MAX_CELL_CHARS + " characters";
      }
      return;
    }
    if (c == '\uFFFD' && error == null) {
      error = "a cell is not valid UTF-8";
    }
    cell.append((char) c);
  }

  /** Consumes a line break starting with {@code c} (CRLF counts once); returns the next character. */
  private int endOfLine(int c) throws IOException {
    line++;
    int next = read();
    if (c == '\r' && next == '\n') {
      next = read();
    }
    return next;
  }

  /** The line the last record started on, 1-based. */
  int startLine() {
    return startLine;
  }

  /** Why the last record is malformed, or null. */
  String error() {
    return error;
  }

  private void pushBack(int c) {
    pushedBack = c;
  }

  private int read() throws IOException {
    if (pushedBack != -2) {
      int c = pushedBack;
      pushedBack = -2;
      return c;
    }
    if (position == limit) {
      limit = in.read(buffer, 0, buffer.length);
      position = 0;
      if (limit <= 0) {
        limit = 0;
        return EOF;
      }
    }
    return buffer[position++];
  }
}
