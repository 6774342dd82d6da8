package io.hiformer.features.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RecordFilesTest {
  @TempDir Path dir;

  private Path write(String name, String text) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, text, StandardCharsets.UTF_8);
    return p;
  }

  private static List<RawRecord> all(Iterable<RawRecord> records) {
    List<RawRecord> out = new ArrayList<>();
    records.forEach(out::add);
    return out;
  }

  private static List<String> column(List<RawRecord> records, String column) {
    return records.stream().map(r -> r.value(column)).toList();
  }

  @Test
  void csvQuotesSeparatorsAndNewlinesInsideFields() throws IOException {
    Path p = write("a.csv", "id,text,n\r\n"
        + "1,\"a, b\",2\r\n"
        + "2,\"say \"\"hi\"\"\",3\r\n"
        + "3,\"two\r\nlines\",4\r\n"
        + "4,\"\",\r\n"
        + "5,,\r\n"
        + "6,5\" screen,7");
    List<RawRecord> rows = all(RecordFiles.csv(p, BadRows.none()));
    assertThat(column(rows, "id")).containsExactly("1", "2", "3", "4", "5", "6");
    assertThat(column(rows, "text")).containsExactly("a, b", "say \"hi\"", "two\r\nlines", "", "", "5\" screen");
    assertThat(column(rows, "n")).containsExactly("2", "3", "4", "", "", "7");
    assertThat(rows.get(0).value("no such column")).isNull();
    // Locations are the line each record starts on; the embedded newline pushes later rows down.
    assertThat(rows.stream().map(RawRecord::location).toList())
        .containsExactly(p + ":2", p + ":3", p + ":4", p + ":6", p + ":7", p + ":8");
  }

  @Test
  void csvWithLfBlankLinesAndByteOrderMark() throws IOException {
    Path p = write("b.csv", "\uFEFFa,b\n1,2\n\n3,4\n\n");
    List<RawRecord> rows = all(RecordFiles.csv(p, BadRows.none()));
    assertThat(column(rows, "a")).containsExactly("1", "3");
    assertThat(rows.get(1).location()).isEqualTo(p + ":4");
  }

  @Test
  void wrongColumnCountIsABadRowWithFileAndLine() throws IOException {
    Path p = write("c.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n");
    assertThatThrownBy(() -> all(RecordFiles.csv(p, BadRows.none())))
        .isInstanceOf(BadRowException.class)
        .hasMessage(p + ":3: expected 3 columns as in the header, got 2");
  }

  @Test
  void malformedQuotesAreBadRows() throws IOException {
    Path after = write("d.csv", "a,b\n\"x\"y,1\n2,3\n");
    assertThatThrownBy(() -> all(RecordFiles.csv(after, BadRows.none())))
        .hasMessage(after + ":2: unexpected text after a closing quote (quotes inside a quoted field must be doubled)");
    Path open = write("e.csv", "a,b\n1,2\n3,\"never closed\n4,5\n");
    BadRows bad = BadRows.tolerate(5);
    assertThat(column(all(RecordFiles.csv(open, bad)), "a")).containsExactly("1");
    assertThat(bad.first().getMessage()).isEqualTo(open + ":3: a quoted field is not closed before the end of the file");
  }

  @Test
  void badRowPolicySkipsAndCountsUpToTheLimitThenStops() throws IOException {
    Path p = write("f.csv", "a,b\n1,2\nx\n3,4\ny\nz\n5,6\n");
    BadRows two = BadRows.tolerate(2);
    Iterator<RawRecord> it = RecordFiles.csv(p, two).iterator();
    assertThat(it.next().value("a")).isEqualTo("1");
    assertThat(it.next().value("a")).isEqualTo("3");
    assertThat(two.count()).isEqualTo(1);
    assertThatThrownBy(it::hasNext)
        .isInstanceOf(BadRowException.class)
        .hasMessage(p + ":6: expected 2 columns as in the header, got 1 (bad row 3, more than maxBadRows 2)");
    assertThat(two.count()).isEqualTo(3);

    BadRows three = BadRows.tolerate(3);
    assertThat(column(all(RecordFiles.csv(p, three)), "a")).containsExactly("1", "3", "5");
    assertThat(three.count()).isEqualTo(3);
    assertThat(three.first().location()).isEqualTo(p + ":3");
  }

  @Test
  void headerProblemsStopAtOnce() throws IOException {
    Path empty = write("g.csv", "");
    assertThatThrownBy(() -> all(RecordFiles.csv(empty, BadRows.tolerate(100))))
        .hasMessage(empty + ":1: the file is empty; expected a header line naming the columns");
    Path twice = write("h.csv", "a,b,a\n1,2,3\n");
    assertThatThrownBy(() -> all(RecordFiles.csv(twice, BadRows.tolerate(100))))
        .hasMessage(twice + ":1: header: column 'a' appears twice");
    assertThatThrownBy(() -> RecordFiles.csv(dir.resolve("missing.csv"), BadRows.none()).iterator())
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("missing.csv");
  }

  @Test
  void invalidUtf8AndOversizedCellsAreBadRowsNotValues() throws IOException {
    Path p = dir.resolve("u.csv");
    byte[] bad = {'1', ',', 'x', (byte) 0xff, (byte) 0xfe, '\n'};
    String huge = "3," + "z".repeat(DelimitedParser.MAX_CELL_CHARS + 1) + "\n";
    try (OutputStream out = Files.newOutputStream(p)) {
      out.write("a,b\n".getBytes(StandardCharsets.UTF_8));
      out.write(bad);
      out.write("2,ok\n".getBytes(StandardCharsets.UTF_8));
      out.write(huge.getBytes(StandardCharsets.UTF_8));
      out.write("4,\"fine\"\n".getBytes(StandardCharsets.UTF_8));
    }
    BadRows rows = BadRows.tolerate(5);
    List<RawRecord> kept = all(RecordFiles.csv(p, rows));
    assertThat(column(kept, "b")).containsExactly("ok", "fine");
    assertThat(rows.skipped()).extracting(BadRowException::getMessage).containsExactly(
        p + ":2: a cell is not valid UTF-8",
        p + ":4: a cell is longer than " + DelimitedParser.MAX_CELL_CHARS + " characters");
  }

  @Test
  void aTruncatedGzipFileFailsNamingTheFile() throws IOException {
    Path whole = dir.resolve("whole.csv.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(whole))) {
      StringBuilder text = new StringBuilder("a,b\n");
      for (int i = 0; i < 50_000; i++) {
        text.append(i).append(",v").append(i * 7919L % 1000).append('\n');
      }
      out.write(text.toString().getBytes(StandardCharsets.UTF_8));
    }
    byte[] bytes = Files.readAllBytes(whole);
    Path cut = dir.resolve("cut.csv.gz");
    Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length / 2));
    assertThatThrownBy(() -> all(RecordFiles.csv(cut, BadRows.none())))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageStartingWith("cannot read " + cut + ": the file is truncated");
  }

  @Test
  void tsvAndGzipByExtension() throws IOException {
    Path p = dir.resolve("t.tsv.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
      out.write("a\tb\n1\t\"x\ty\"\n2\tz,w\n".getBytes(StandardCharsets.UTF_8));
    }
    FeatureSchema schema = FeatureSchema.parse("tasks: [{name: a}]\nfields: [{name: b, kind: categorical, side: item}]");
    List<RawRecord> rows = all(RecordFiles.open(p, schema, BadRows.none()));
    assertThat(column(rows, "b")).containsExactly("x\ty", "z,w");
    assertThatThrownBy(() -> RecordFiles.open(dir.resolve("x.parquet"), schema, BadRows.none()))
        .hasMessageContaining("cannot tell the format");
  }

  @Test
  void libFmMapsIndicesToColumnsByRangeFieldOrIndex() throws IOException {
    FeatureSchema.LibFm layout = FeatureSchema.parse("""
        tasks: [{name: label}]
        libfm: {fields: {user: [0, 9], item: [10, 19]}}
        fields: [{name: user, kind: categorical, side: user}]
        """).libFm();
    Path p = write("a.libfm", "1 3:1 12:1 15:1 42:0.25\n\n0 tag:7:1 tag:8:1  5:1\t99:-1e3\r\n");
    List<RawRecord> rows = all(RecordFiles.libFm(p, layout, BadRows.none()));
    assertThat(column(rows, "label")).containsExactly("1", "0");
    RawRecord first = rows.getFirst();
    assertThat(first.value("user")).isEqualTo("3");
    assertThat(first.value("item")).isEqualTo("12");
    assertThat(first.bag("item", "|")).containsExactly("12", "15");
    assertThat(first.value("42")).isEqualTo("42");
    assertThat(first.value("42.value")).isEqualTo("0.25");
    assertThat(first.value("tag")).isNull();
    RawRecord second = rows.get(1);
    assertThat(second.bag("tag", "|")).containsExactly("7", "8");
    assertThat(second.value("user")).isEqualTo("5");
    assertThat(second.value("99.value")).isEqualTo("-1e3");
    assertThat(second.location()).isEqualTo(p + ":3");
  }

  @Test
  void libFmBadTokensAreBadRows() throws IOException {
    Path p = write("b.libsvm", "1 3:1\n1 3\n1 :3\n1 a:b:c:d\n1 3:x\n1 x:1\n0 4:1\n");
    BadRows bad = BadRows.tolerate(10);
    List<RawRecord> rows = all(RecordFiles.libFm(p, FeatureSchema.LibFm.defaults(), bad));
    assertThat(column(rows, "3")).containsExactly("3", null);
    assertThat(bad.count()).isEqualTo(5);
    assertThatThrownBy(() -> all(RecordFiles.libFm(p, FeatureSchema.LibFm.defaults(), BadRows.none())))
        .hasMessage(p + ":2: token '3' is not index:value or field:index:value");
  }
}
