package io.hiformer.training.evaluation;

import java.util.List;
import java.util.Locale;

/**
 * Plots as inline SVG text: line charts on the unit square, paired histograms and forest plots of
 * differences with intervals. Every plot is one {@code <svg class="plot" id=...>} element with a
 * {@code <title>}, so a page needs no script and no network to show it.
 */
final class Svg {
  static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  private static final int W = 420;
  private static final int H = 320;
  private static final int LEFT = 52;
  private static final int RIGHT = 14;
  private static final int TOP = 30;
  private static final int BOTTOM = 44;

  /** One line of a chart; with {@code counts} (rows per point), each point is marked and labelled with its count. */
  record Series(String name, String color, double[] x, double[] y, long[] counts) {}

  /** One row of a forest plot: a difference and its interval, coloured by verdict. */
  record Interval(String label, double delta, double lo, double hi, EvaluationResult.Verdict verdict) {}

  private Svg() {}

  /** Lines on [0, 1] x [0, 1] with axes, a legend and optionally the diagonal. */
  static String lines(String id, String title, String xLabel, String yLabel, List<Series> series, boolean diagonal) {
    StringBuilder sb = open(id, title, W, H);
    frame(sb, xLabel, yLabel);
    if (diagonal) {
      sb.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#999' "
          + "stroke-dasharray='4 3'/>", px(0), py(0), px(1), py(1)));
    }
    int row = 0;
    for (Series s : series) {
      StringBuilder points = new StringBuilder();
      for (int i = 0; i < s.x().length; i++) {
        points.append(String.format(Locale.ROOT, "%.1f,%.1f ", px(s.x()[i]), py(s.y()[i])));
      }
      sb.append("<polyline fill='none' stroke-width='2' stroke='").append(s.color()).append("' points='")
          .append(points.toString().trim()).append("'/>");
      if (s.counts() != null) {
        for (int i = 0; i < s.x().length; i++) {
          sb.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'><title>%,d rows</title>"
              + "</circle><text x='%.1f' y='%.1f' font-size='8' fill='%s' text-anchor='middle'>%s</text>",
              px(s.x()[i]), py(s.y()[i]), s.color(), s.counts()[i], px(s.x()[i]), py(s.y()[i]) - 5 - 9 * row,
              s.color(), count(s.counts()[i])));
        }
      }
      legend(sb, row++, s.name(), s.color());
    }
    return sb.append("</svg>").toString();
  }

  /** A count in at most 4 characters: 950, 12k, 3.4M. */
  static String count(long n) {
    if (n < 1000) {
      return Long.toString(n);
    }
    double k = n / 1000.0;
    if (k < 999.5) {
      return k < 9.95 ? String.format(Locale.ROOT, "%.1fk", k) : String.format(Locale.ROOT, "%.0fk", k);
    }
    double m = n / 1e6;
    return m < 9.95 ? String.format(Locale.ROOT, "%.1fM", m) : String.format(Locale.ROOT, "%.0fM", m);
  }

  /**
   * Positive and negative counts per equal-width bin of [0, 1], each as the share of its class
   * (the bars of a class sum to 1), on a y axis from 0 to a round number above the tallest bar.
   */
  static String histogram(String id, String title, long[] positives, long[] negatives) {
    StringBuilder sb = open(id, title, W, H);
    long p = 0;
    long n = 0;
    for (int i = 0; i < positives.length; i++) {
      p += positives[i];
      n += negatives[i];
    }
    double max = 0;
    for (int i = 0; i < positives.length; i++) {
      max = Math.max(max, Math.max(share(positives[i], p), share(negatives[i], n)));
    }
    double top = roundUp(max);
    frame(sb, "predicted probability", "share of class", top);
    double bin = 1.0 / positives.length;
    for (int i = 0; i < positives.length; i++) {
      bar(sb, i * bin, bin / 2, share(negatives[i], n) / top, "#7f7f7f");
      bar(sb, i * bin + bin / 2, bin / 2, share(positives[i], p) / top, "#2ca02c");
    }
    // Negatives pile up near 0 and positives near 1: the legend goes top centre.
    legendAt(sb, px(0.35), py(1) + 16, String.format(Locale.ROOT, "negatives (%,d)", n), "#7f7f7f");
    legendAt(sb, px(0.35), py(1) + 30, String.format(Locale.ROOT, "positives (%,d)", p), "#2ca02c");
    return sb.append("</svg>").toString();
  }

  /** The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least {@code x} (1 for nothing), at most 1. */
  static double roundUp(double x) {
    if (!(x > 0)) {
      return 1;
    }
    double power = Math.pow(10, Math.floor(Math.log10(x)));
    for (double m : new double[] {1, 2, 2.5, 5, 10}) {
      if (m * power >= x * (1 - 1e-12)) {
        return Math.min(1, m * power);
      }
    }
    return 1;
  }

  private static double share(long count, long total) {
    return total == 0 ? 0 : (double) count / total;
  }

  private static void bar(StringBuilder sb, double x, double width, double height, String color) {
    sb.append(String.format(Locale.ROOT, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'/>", px(x),
        py(height), px(x + width) - px(x), py(0) - py(height), color));
  }

  /**
   * Differences with intervals, one row each, centred on 0: on one scale for all rows
   * ({@code commonScale}, rows of one metric) or each on its own (metrics of different units).
   */
  static String forest(String id, String title, List<Interval> rows, boolean commonScale) {
    int rowHeight = 26;
    int labelWidth = 150;
    int width = 680;
    int height = TOP + 18 + rowHeight * Math.max(1, rows.size()) + 10;
    StringBuilder sb = open(id, title, width, height);
    int x0 = labelWidth;
    int x1 = width - 230;
    double common = 0;
    for (Interval row : rows) {
      common = Math.max(common, reach(row));
    }
    for (int r = 0; r < rows.size(); r++) {
      Interval row = rows.get(r);
      double y = TOP + 18 + rowHeight * r + rowHeight / 2.0;
      sb.append(String.format(Locale.ROOT, "<text x='8' y='%.1f' font-size='12'>%s</text>", y + 4, esc(row.label())));
      double reach = commonScale ? common : reach(row);
      if (!(reach > 0)) {
        reach = 1;
      }
      double scale = (x1 - x0) / (2 * reach * 1.1);
      double mid = (x0 + x1) / 2.0;
      String color = switch (row.verdict()) {
        case BETTER -> "#2ca02c";
        case WORSE -> "#d62728";
        default -> "#555";
      };
      sb.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#bbb' "
          + "stroke-dasharray='3 3'/>", mid, y - rowHeight / 2.0 + 3, mid, y + rowHeight / 2.0 - 3));
      if (!Double.isNaN(row.lo())) {
        sb.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' "
            + "stroke-width='3'/>", mid + row.lo() * scale, y, mid + row.hi() * scale, y, color));
      }
      if (!Double.isNaN(row.delta())) {
        sb.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='5' fill='%s'/>", mid + row.delta() * scale,
            y, color));
      }
      sb.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f' font-size='11' fill='%s'>%s</text>", x1 + 8, y + 4,
          color, esc(String.format(Locale.ROOT, "%+.5f [%+.5f, %+.5f]", row.delta(), row.lo(), row.hi()))));
    }
    return sb.append("</svg>").toString();
  }

  /** How far from 0 a row reaches; 0 when nothing about it is defined. */
  private static double reach(Interval row) {
    double r = 0;
    for (double v : new double[] {row.lo(), row.hi(), row.delta()}) {
      if (!Double.isNaN(v)) {
        r = Math.max(r, Math.abs(v));
      }
    }
    return r;
  }

  private static StringBuilder open(String id, String title, int width, int height) {
    StringBuilder sb = new StringBuilder();
    // Inline in HTML the parser puts <svg> in the SVG namespace: no xmlns, no URL in the page.
    sb.append(String.format(Locale.ROOT, "<svg class='plot' id='%s' width='%d' "
        + "height='%d' viewBox='0 0 %d %d' font-family='sans-serif'>", esc(id), width, height, width, height));
    sb.append("<title>").append(esc(title)).append("</title>");
    sb.append(String.format(Locale.ROOT, "<text x='%d' y='18' font-size='13' font-weight='bold'>%s</text>", 8,
        esc(title)));
    return sb;
  }

  private static void frame(StringBuilder sb, String xLabel, String yLabel) {
    frame(sb, xLabel, yLabel, 1);
  }

  /** Axes for x in [0, 1] and y in [0, {@code yTop}] (drawn on the unit square, labelled in y's units). */
  private static void frame(StringBuilder sb, String xLabel, String yLabel, double yTop) {
    sb.append(String.format(Locale.ROOT, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' "
        + "stroke='#333'/>", px(0), py(1), px(1) - px(0), py(0) - py(1)));
    for (int i = 0; i <= 4; i++) {
      double v = i / 4.0;
      sb.append(String.format(Locale.ROOT, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='middle'>%.2f</text>",
          px(v), py(0) + 14, v));
      sb.append(String.format(Locale.ROOT, "<text x='%.1f' y='%.1f' font-size='10' text-anchor='end'>%s</text>",
          px(0) - 4, py(v) + 3, tick(v * yTop, yTop)));
      if (i > 0 && i < 4) {
        sb.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#eee'/>", px(v),
            py(0), px(v), py(1)));
        sb.append(String.format(Locale.ROOT, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#eee'/>", px(0),
            py(v), px(1), py(v)));
      }
    }
    sb.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%s</text>",
        (px(0) + px(1)) / 2, H - 8, esc(xLabel)));
    sb.append(String.format(Locale.ROOT, "<text x='12' y='%.1f' font-size='11' text-anchor='middle' "
        + "transform='rotate(-90 12 %.1f)'>%s</text>", (py(0) + py(1)) / 2, (py(0) + py(1)) / 2, esc(yLabel)));
  }

  /** A y tick label: two decimals on the unit axis, enough digits for a finer one's quarters. */
  private static String tick(double y, double top) {
    return top >= 1 ? String.format(Locale.ROOT, "%.2f", y) : String.format(Locale.ROOT, "%.3g", y);
  }

  /** A legend entry in the bottom right corner, {@code row} entries up. */
  private static void legend(StringBuilder sb, int row, String name, String color) {
    legendAt(sb, px(1) - 150, py(0) - 12 - 14 * row, name, color);
  }

  private static void legendAt(StringBuilder sb, double x, double y, String name, String color) {
    sb.append(String.format(Locale.ROOT, "<rect x='%.1f' y='%.1f' width='10' height='10' fill='%s'/>", x, y - 9, color));
    sb.append(String.format(Locale.ROOT, "<text x='%.1f' y='%.1f' font-size='11'>%s</text>", x + 14, y, esc(name)));
  }

  private static double px(double x) {
    return LEFT + x * (W - LEFT - RIGHT);
  }

  private static double py(double y) {
    return H - BOTTOM - y * (H - TOP - BOTTOM);
  }

  static String esc(String s) {
    StringBuilder sb = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '<' -> sb.append("&lt;");
        case '>' -> sb.append("&gt;");
        case '&' -> sb.append("&amp;");
        case '\'' -> sb.append("&#39;");
        case '"' -> sb.append("&quot;");
        default -> sb.append(c < 0x20 && c != '\n' && c != '\t' ? ' ' : c);
      }
    }
    return sb.toString();
  }
}
