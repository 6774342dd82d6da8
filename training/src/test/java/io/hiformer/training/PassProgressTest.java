package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import org.junit.jupiter.api.Test;

class PassProgressTest {

  @Test
  void drawsCountRateAndTimeLeftWhenTheTotalIsKnown() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PassProgress p = new PassProgress(new PrintStream(out, true), true, "epoch 1", "examples", 1000);
    p.advance(250);
    String line = p.line(System.nanoTime());
    assertThat(line).startsWith("epoch 1 [=======").contains(" 25%", "250/1,000 examples", "examples/s", "ETA ");
    PassProgress unknown = new PassProgress(new PrintStream(out, true), false, "fitting", "rows", -1);
    unknown.advance(42);
    assertThat(unknown.line(System.nanoTime())).startsWith("fitting 42 rows").doesNotContain("ETA").doesNotContain("[");
  }

  @Test
  void aLogGetsNoLineBeforeAMinuteAndOneFinalLine() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PassProgress p = new PassProgress(new PrintStream(out, true), false, "caching train", "rows", -1);
    for (int i = 0; i < 10_000; i++) {
      p.advance(1);
    }
    assertThat(out.toString()).isEmpty();
    p.done();
    assertThat(out.toString()).startsWith("caching train: 10,000 rows in ").endsWith("rows/s)" + System.lineSeparator());
  }
}
