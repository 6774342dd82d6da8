package io.hiformer.training.evaluation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The report's plots say what they show: histogram bars are shares of their class, reliability points carry counts. */
class SvgTest {
  private static final double PLOT_HEIGHT = 320 - 30 - 44;
  private static final Pattern RECT = Pattern.compile("<rect x='[^']*' y='[^']*' width='([0-9.]+)' height='([0-9.]+)' fill='([^']*)'/>");

  /** The bar heights of one colour, in plot units (the legend's 10 x 10 swatches left out). */
  private static List<Double> bars(String svg, String color) {
    List<Double> out = new ArrayList<>();
    Matcher m = RECT.matcher(svg);
    while (m.find()) {
      if (m.group(3).equals(color) && !m.group(1).equals("10")) {
        out.add(Double.parseDouble(m.group(2)) / PLOT_HEIGHT);
      }
    }
    return out;
  }

  @Test
  void histogramBarsAreSharesOfTheirClassOnALabelledAxis() {
    long[] positives = {0, 1, 1, 2, 6, 10, 20, 20, 20, 20};   // 100; tallest share 0.2
    long[] negatives = {90, 60, 30, 10, 5, 3, 1, 1, 0, 0};   // 200; tallest share 0.45
    String svg = Svg.histogram("h", "scores", positives, negatives);
    assertThat(svg).contains(">share of class<");
    // The axis runs to 0.5, a round number above 0.45: labelled in shares, not scaled to the tallest bar.
    assertThat(svg).contains("text-anchor='end'>0.500<").contains("text-anchor='end'>0.250<")
        .doesNotContain("text-anchor='end'>1.00<");
    double top = 0.5;
    List<Double> neg = bars(svg, "#7f7f7f");
    List<Double> pos = bars(svg, "#2ca02c");
    assertThat(neg).hasSize(10);
    for (int i = 0; i < 10; i++) {
      assertThat(neg.get(i) * top).isCloseTo(negatives[i] / 200.0, within(0.002));
      assertThat(pos.get(i) * top).isCloseTo(positives[i] / 100.0, within(0.002));
    }
    assertThat(neg.stream().mapToDouble(h -> h * top).sum()).as("a class's bars sum to 1").isCloseTo(1, within(0.01));
  }

  @Test
  void roundUpPicksOneTwoTwoAndAHalfOrFiveTimesAPowerOfTen() {
    assertThat(Svg.roundUp(0.45)).isEqualTo(0.5);
    assertThat(Svg.roundUp(0.2)).isCloseTo(0.2, within(1e-15));
    assertThat(Svg.roundUp(0.21)).isEqualTo(0.25);
    assertThat(Svg.roundUp(0.031)).isCloseTo(0.05, within(1e-15));
    assertThat(Svg.roundUp(0.9)).isEqualTo(1);
    assertThat(Svg.roundUp(0)).isEqualTo(1);
  }

  @Test
  void reliabilityPointsShowTheirBinsRowCounts() {
    String svg = Svg.lines("r", "reliability", "predicted", "observed", List.of(new Svg.Series("v1", "#1f77b4",
        new double[] {0.1, 0.5, 0.9}, new double[] {0.12, 0.4, 0.95}, new long[] {12_345, 950, 3_400_000})), true);
    assertThat(svg).contains("<title>12,345 rows</title>").contains(">12k<").contains(">950<").contains(">3.4M<");
    assertThat(Svg.count(1_234)).isEqualTo("1.2k");
    assertThat(Svg.count(999_999)).isEqualTo("1.0M");
    String roc = Svg.lines("roc", "roc", "fpr", "tpr", List.of(new Svg.Series("v1", "#1f77b4",
        new double[] {0, 1}, new double[] {0, 1}, null)), true);
    assertThat(roc).doesNotContain("<circle");
  }
}
