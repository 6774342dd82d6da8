package io.hiformer.features.data;

import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * Raw records from text files (UTF-8, optionally gzip-compressed when the name ends in
 * {@code .gz}). Each returned iterable opens its file anew on every {@code iterator()} and closes
 * it at the end; an iterator abandoned early can be closed with {@link AutoCloseable#close()}.
 * Bad rows go to the given {@link BadRows}, which also decides when to stop; a file that cannot
 * be read at all (missing, no header) fails at once. I/O errors surface as
 * {@link UncheckedIOException}.
 */
public final class RecordFiles {
  private RecordFiles() {}

  /**
   * A comma-separated file per RFC 4180 with a header line naming the columns; quoted fields may
   * hold commas, doubled quotes and line breaks; lines end in LF or CRLF. A row with a different
   * number of cells than the header is bad.
   */
  public static Iterable<RawRecord> csv(Path file, BadRows badRows) {
    return new DelimitedFile(file, ',', badRows);
  }

  /** Like {@link #csv} with tabs between cells. */
  public static Iterable<RawRecord> tsv(Path file, BadRows badRows) {
    return new DelimitedFile(file, '\t', badRows);
  }

  /**
   * A libFM / libSVM / libFFM file: per line a label, then whitespace-separated tokens
   * {@code index:value} or {@code field:index:value}. The label is column
   * {@code layout.labelColumn()}. A token's column is its {@code field} (libFFM), else the
   * {@code layout} range holding its index, else the index itself. Column {@code c} reads as the
   * token's index (a bag field gets every index of the column) and column {@code c.value} as its
   * value, so a dense feature {@code 7:0.25} is read with {@code column: "7.value"}.
   */
  public static Iterable<RawRecord> libFm(Path file, FeatureSchema.LibFm layout, BadRows badRows) {
    return new LibFmFile(file, layout, badRows);
  }

  /**
   * Picks the reader by extension (after an optional {@code .gz}): {@code .csv}, {@code .tsv} or
   * {@code .tab}, and {@code .libfm}, {@code .libsvm}, {@code .svm} or {@code .ffm} (laid out by
   * the schema's {@code libfm} section).
   */
  public static Iterable<RawRecord> open(Path file, FeatureSchema schema, BadRows badRows) {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".gz")) {
      name = name.substring(0, name.length() - 3);
    }
    String ext = name.substring(name.lastIndexOf('.') + 1);
    return switch (ext) {
      case "csv" -> csv(file, badRows);
      case "tsv", "tab" -> tsv(file, badRows);
      case "libfm", "libsvm", "svm", "ffm" -> libFm(file, schema.libFm(), badRows);
      default -> throw new IllegalArgumentException("cannot tell the format of " + file
          + " from its name: expected .csv, .tsv, .tab, .libfm, .libsvm, .svm or .ffm (optionally .gz)");
    };
  }

  static Reader openText(Path file) {
    try {
      InputStream in = Files.newInputStream(file);
      if (file.getFileName().toString().endsWith(".gz")) {
        in = new GZIPInputStream(in, 1 << 16);
      }
      return new InputStreamReader(new Named(in, file), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Names the file in every read error: a truncated {@code .gz} otherwise fails with only
   * "Unexpected end of ZLIB input stream".
   */
  private static final class Named extends java.io.FilterInputStream {
    private final Path file;

    Named(InputStream in, Path file) {
      super(in);
      this.file = file;
    }

    @Override
    public int read() throws IOException {
      try {
        return super.read();
      } catch (IOException e) {
        throw named(e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        return super.read(b, off, len);
      } catch (IOException e) {
        throw named(e);
      }
    }

    private IOException named(IOException e) {
      String what = e instanceof java.io.EOFException ? "the file is truncated (" + e.getMessage() + ")"
          : e.getMessage();
      return new IOException("cannot read " + file + ": " + what, e);
    }
  }
}
