package io.hiformer.training.evaluation;

import static io.hiformer.training.evaluation.Svg.esc;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.hiformer.training.evaluation.EvaluationResult.Cell;
import io.hiformer.training.evaluation.EvaluationResult.Delta;
import io.hiformer.training.evaluation.EvaluationResult.ModelVersion;
import io.hiformer.training.evaluation.EvaluationResult.SliceField;
import io.hiformer.training.evaluation.EvaluationResult.TaskTable;
import io.hiformer.training.evaluation.EvaluationResult.VersionMetrics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The outputs of an evaluation: {@code summary.json} for machines and one self-contained HTML
 * page for people, with every plot inline as SVG (ROC, reliability curves, score histograms,
 * differences with intervals). Plot ids: {@code roc-TASK}, {@code reliability-TASK},
 * {@code histogram-TASK-VERSION}, {@code deltas-TASK-VERSION} and, per slice field,
 * {@code slice-FIELD-TASK-VERSION} (AUC differences per value), with every character outside
 * {@code [A-Za-z0-9_-]} written as {@code _}.
 */
public final class Reports {
  public static final String SUMMARY = "summary.json";
  public static final String HTML = "report.html";

  private Reports() {}

  /** Writes {@code summary.json} and {@code report.html} into {@code dir}, each replaced atomically. */
  public static void write(EvaluationResult r, List<Requirement.Check> checks, Path dir) throws IOException {
    Files.createDirectories(dir);
    replace(dir.resolve(SUMMARY), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .writeValueAsString(summary(r, checks)));
    replace(dir.resolve(HTML), html(r, checks));
  }

  private static void replace(Path file, String text) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.writeString(tmp, text, StandardCharsets.UTF_8);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  static String id(String... parts) {
    return String.join("-", parts).replaceAll("[^A-Za-z0-9_-]", "_");
  }

  // ---- summary.json

  /** The summary as JSON-ready maps; non-finite numbers become null. */
  static Map<String, Object> summary(EvaluationResult r, List<Requirement.Check> checks) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("model", r.versions().getFirst().model());
    List<Map<String, Object>> versions = new ArrayList<>();
    for (ModelVersion v : r.versions()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("label", v.label());
      m.put("version", v.version());
      m.put("sha256", v.sha256());
      m.put("variant", v.variant());
      versions.add(m);
    }
    out.put("versions", versions);
    out.put("baseline", r.versions().getFirst().label());
    out.put("data", r.data());
    out.put("group_by", r.groupBy());
    out.put("rows", r.rows());
    out.put("groups", r.groups());
    out.put("bad_rows", r.badRows());
    out.put("seconds", num(r.seconds()));
    Evaluation.Options o = r.options();
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("bootstrap", o.bootstrap());
    settings.put("confidence", o.confidence());
    settings.put("seed", o.seed());
    settings.put("ndcg_at", o.ndcgAt());
    settings.put("calibration_bins", o.calibrationBins());
    settings.put("group_window", o.groupWindow());
    settings.put("slices", o.slices());
    settings.put("slice_values", o.sliceValues());
    settings.put("threads", o.threads());
    out.put("settings", settings);
    out.put("tasks", tasks(r.overall(), true));
    Map<String, Object> slices = new LinkedHashMap<>();
    for (SliceField f : r.slices()) {
      List<Map<String, Object>> values = new ArrayList<>();
      for (Cell c : f.values()) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("value", c.value());
        m.put("rows", c.rows());
        m.put("groups", c.groups());
        m.put("mover", c.mover());
        m.put("tasks", tasks(c, false));
        values.add(m);
      }
      slices.put(f.field(), Map.of("capped", f.capped(), "values", values));
    }
    out.put("slices", slices);
    List<Map<String, Object>> reqs = new ArrayList<>();
    for (Requirement.Check c : checks) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("requirement", c.requirement().text());
      m.put("version", c.version());
      m.put("task", c.task());
      m.put("actual", num(c.actual()));
      m.put("passed", c.passed());
      reqs.add(m);
    }
    out.put("requirements", reqs);
    out.put("passed", checks.stream().allMatch(Requirement.Check::passed));
    return out;
  }

  private static Map<String, Object> tasks(Cell cell, boolean curves) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (TaskTable t : cell.tasks()) {
      Map<String, Object> task = new LinkedHashMap<>();
      Map<String, Object> versions = new LinkedHashMap<>();
      for (VersionMetrics v : t.versions()) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("rows", v.rows());
        m.put("positives", v.positives());
        m.put("groups", v.groups());
        v.metrics().forEach((k, x) -> m.put(k, num(x)));
        m.put("auc_exact", v.aucCoarsening() == 0);
        if (curves && v.curves() != null) {
          List<Map<String, Object>> reliability = new ArrayList<>();
          for (int i = 0; i < v.curves().reliabilityRows().length; i++) {
            reliability.add(Map.of("predicted", v.curves().reliabilityPredicted()[i],
                "observed", v.curves().reliabilityObserved()[i], "rows", v.curves().reliabilityRows()[i]));
          }
          m.put("reliability", reliability);
        }
        versions.put(v.version(), m);
      }
      task.put("versions", versions);
      Map<String, Object> deltas = new LinkedHashMap<>();
      for (Delta d : t.deltas()) {
        @SuppressWarnings("unchecked")
        Map<String, Object> perVersion = (Map<String, Object>) deltas.computeIfAbsent(d.version(),
            k -> new LinkedHashMap<String, Object>());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("baseline", num(d.baselineValue()));
        m.put("value", num(d.value()));
        m.put("delta", num(d.delta()));
        m.put("lo", num(d.lo()));
        m.put("hi", num(d.hi()));
        m.put("p", num(d.p()));
        m.put("verdict", d.verdict().text());
        perVersion.put(d.metric(), m);
      }
      task.put("deltas", deltas);
      out.put(t.task(), task);
    }
    return out;
  }

  private static Double num(double x) {
    return Double.isFinite(x) ? x : null;
  }

  // ---- report.html

  static String html(EvaluationResult r, List<Requirement.Check> checks) {
    StringBuilder sb = new StringBuilder(1 << 16);
    String model = r.versions().getFirst().model();
    sb.append("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Offline A/B evaluation: ")
        .append(esc(model)).append("</title><style>")
        .append("body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}")
        .append("table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;"
            + "text-align:right;font-size:13px}th{background:#f3f3f3}td.l,th.l{text-align:left}")
        .append(".better{color:#1a7f1a;font-weight:bold}.worse{color:#c62828;font-weight:bold}.nsd{color:#555}")
        .append("tr.mover td{background:#fff6d6}.plots{display:flex;flex-wrap:wrap;gap:12px}")
        .append("svg.plot{border:1px solid #ddd;background:#fff}.pass{color:#1a7f1a}.fail{color:#c62828}")
        .append("</style></head><body>");
    sb.append("<h1>Offline A/B evaluation: ").append(esc(model)).append("</h1>");
    sb.append("<table><tr><th class='l'>version</th><th class='l'>variant</th><th class='l'>SHA-256</th></tr>");
    for (int i = 0; i < r.versions().size(); i++) {
      ModelVersion v = r.versions().get(i);
      sb.append("<tr><td class='l'><span style='color:").append(Svg.COLORS[i % Svg.COLORS.length]).append("'>&#9632;</span> ")
          .append(esc(v.label())).append(i == 0 ? " (baseline)" : "").append("</td><td class='l'>")
          .append(esc(v.variant())).append("</td><td class='l'><code>").append(esc(v.sha256())).append("</code></td></tr>");
    }
    sb.append("</table>");
    Evaluation.Options o = r.options();
    sb.append(String.format(Locale.ROOT, "<p>Data: %s. %,d rows in %,d groups by <code>%s</code>%s. "
            + "Intervals: %.0f%% paired bootstrap over groups, %d replicates (seed %d) with percentile intervals; "
            + "p-values two-sided, read from the same replicates, so that p &lt; %.2f exactly when the interval "
            + "excludes 0; a p-value below the bootstrap's resolution shows as &lt; 1/replicates. "
            + "Calibration: %d equal-width bins. Scored in %.1f s.</p>",
        esc(r.data()), r.rows(), r.groups(), esc(r.groupBy()),
        r.badRows() == 0 ? "" : String.format(Locale.ROOT, ", %,d bad rows skipped", r.badRows()),
        o.confidence() * 100, o.bootstrap(), o.seed(), 1 - o.confidence(), o.calibrationBins(), r.seconds()));
    if (!checks.isEmpty()) {
      boolean passed = checks.stream().allMatch(Requirement.Check::passed);
      sb.append("<h2>Requirements: <span class='").append(passed ? "pass'>passed" : "fail'>failed")
          .append("</span></h2><table><tr><th class='l'>requirement</th><th class='l'>version</th>"
              + "<th class='l'>task</th><th>actual</th><th class='l'>result</th></tr>");
      for (Requirement.Check c : checks) {
        sb.append("<tr><td class='l'><code>").append(esc(c.requirement().text())).append("</code></td><td class='l'>")
            .append(esc(c.version())).append("</td><td class='l'>").append(esc(c.task())).append("</td><td>")
            .append(fmt(c.actual(), "%.6g")).append("</td><td class='l ").append(c.passed() ? "pass'>pass" : "fail'>fail")
            .append("</td></tr>");
      }
      sb.append("</table>");
    }
    for (TaskTable t : r.overall().tasks()) {
      task(sb, r, t);
    }
    for (SliceField f : r.slices()) {
      slice(sb, r, f);
    }
    sb.append("<p style='color:#777;font-size:12px'>AUC: exact, ties count one half. GAUC: per-group AUC weighted "
        + "by the group's rows, over groups with both classes. NDCG: gain = label, ties share their gain. MRR: "
        + "expected reciprocal rank of the first positive. ECE: row-weighted mean |prediction - observed| over "
        + "the bins. Ratio: sum of predictions over sum of labels; its verdict judges the distance to 1. "
        + "Ranking metrics average over groups with a positive.</p>");
    return sb.append("</body></html>\n").toString();
  }

  private static void task(StringBuilder sb, EvaluationResult r, TaskTable t) {
    sb.append("<h2>Task ").append(esc(t.task())).append("</h2>");
    VersionMetrics base = t.versions().getFirst();
    sb.append(String.format(Locale.ROOT, "<p>%,d labelled rows, %,d positive, in %,d groups.</p>", base.rows(),
        base.positives(), base.groups()));
    sb.append("<table><tr><th class='l'>metric</th>");
    for (VersionMetrics v : t.versions()) {
      sb.append("<th>").append(esc(v.version())).append("</th>");
    }
    for (ModelVersion v : r.versions().subList(1, r.versions().size())) {
      sb.append("<th>").append(esc(v.label())).append(" &minus; ").append(esc(r.versions().getFirst().label()))
          .append("</th><th>").append(Math.round(r.options().confidence() * 100)).append("% interval</th><th>p</th>"
              + "<th class='l'>verdict</th>");
    }
    sb.append("</tr>");
    for (EvaluationResult.Metric m : r.metrics()) {
      sb.append("<tr><td class='l'>").append(esc(m.name())).append("</td>");
      for (VersionMetrics v : t.versions()) {
        sb.append("<td>").append(fmt(v.metrics().get(m.name()), "%.6f")).append("</td>");
      }
      for (Delta d : t.deltas()) {
        if (d.metric().equals(m.name())) {
          deltaCells(sb, d, r.options().bootstrap());
        }
      }
      sb.append("</tr>");
    }
    sb.append("</table><div class='plots'>");
    List<Svg.Series> roc = new ArrayList<>();
    List<Svg.Series> reliability = new ArrayList<>();
    for (int i = 0; i < t.versions().size(); i++) {
      VersionMetrics v = t.versions().get(i);
      String color = Svg.COLORS[i % Svg.COLORS.length];
      roc.add(new Svg.Series(String.format(Locale.ROOT, "%s AUC %.4f", v.version(), v.metrics().get("auc")), color,
          v.curves().rocFpr(), v.curves().rocTpr(), null));
      reliability.add(new Svg.Series(String.format(Locale.ROOT, "%s ECE %.4f", v.version(), v.metrics().get("ece")),
          color, v.curves().reliabilityPredicted(), v.curves().reliabilityObserved(), v.curves().reliabilityRows()));
    }
    sb.append(Svg.lines(id("roc", t.task()), "ROC: " + t.task(), "false positive rate", "true positive rate", roc,
        true));
    sb.append(Svg.lines(id("reliability", t.task()), "Reliability: " + t.task(), "mean predicted probability",
        "observed rate (labels: rows in the bin)", reliability, true));
    for (VersionMetrics v : t.versions()) {
      sb.append(Svg.histogram(id("histogram", t.task(), v.version()), "Scores of " + v.version() + ": " + t.task(),
          v.curves().histogramPositive(), v.curves().histogramNegative()));
    }
    for (ModelVersion v : r.versions().subList(1, r.versions().size())) {
      List<Svg.Interval> rows = new ArrayList<>();
      for (Delta d : t.deltas()) {
        if (d.version().equals(v.label())) {
          rows.add(new Svg.Interval(d.metric(), d.delta(), d.lo(), d.hi(), d.verdict()));
        }
      }
      sb.append(Svg.forest(id("deltas", t.task(), v.label()), v.label() + " \u2212 " + r.versions().getFirst().label()
          + ": " + t.task() + " (each row on its own scale)", rows, false));
    }
    sb.append("</div>");
  }

  private static void deltaCells(StringBuilder sb, Delta d, int replicates) {
    String css = switch (d.verdict()) {
      case BETTER -> "better";
      case WORSE -> "worse";
      default -> "nsd";
    };
    sb.append("<td>").append(fmt(d.delta(), "%+.6f")).append("</td><td>[").append(fmt(d.lo(), "%+.6f")).append(", ")
        .append(fmt(d.hi(), "%+.6f")).append("]</td><td>").append(pValue(d.p(), replicates)).append("</td><td class='l ")
        .append(css).append("'>").append(esc(d.verdict().text())).append("</td>");
  }

  /**
   * A p-value as the report shows it: below 1/replicates the bootstrap cannot tell it apart from
   * 0 (no replicate, or a fraction of one, crossed 0), so it reads {@code < 1/replicates}.
   */
  static String pValue(double p, int replicates) {
    double floor = 1.0 / replicates;
    if (!Double.isNaN(p) && p < floor) {
      return String.format(Locale.ROOT, "&lt; %.4f", floor);
    }
    return fmt(p, "%.4f");
  }

  private static void slice(StringBuilder sb, EvaluationResult r, SliceField f) {
    sb.append("<h2>Slices by ").append(esc(f.field())).append("</h2>");
    if (f.capped()) {
      sb.append(String.format(Locale.ROOT, "<p>Values after the first %d seen are pooled as (other).</p>",
          r.options().sliceValues()));
    }
    sb.append("<p>&#9733; marks the largest movers by the AUC difference of the first task.</p>");
    for (int ti = 0; ti < r.tasks().size(); ti++) {
      String task = r.tasks().get(ti);
      sb.append("<h3>").append(esc(f.field())).append(", task ").append(esc(task)).append("</h3>");
      sb.append("<table><tr><th class='l'>value</th><th>rows</th><th>groups</th>");
      for (ModelVersion v : r.versions()) {
        sb.append("<th>AUC ").append(esc(v.label())).append("</th><th>log loss ").append(esc(v.label())).append("</th>");
      }
      for (ModelVersion v : r.versions().subList(1, r.versions().size())) {
        for (String m : List.of("auc", "logloss")) {
          sb.append("<th>&Delta; ").append(m).append(' ').append(esc(v.label())).append("</th><th>interval</th>"
              + "<th>p</th><th class='l'>verdict</th>");
        }
      }
      sb.append("</tr>");
      for (Cell c : f.values()) {
        TaskTable t = c.tasks().get(ti);
        sb.append("<tr").append(c.mover() ? " class='mover'" : "").append("><td class='l'>")
            .append(c.mover() ? "&#9733; " : "").append(esc(c.value())).append("</td>")
            .append(String.format(Locale.ROOT, "<td>%,d</td><td>%,d</td>", c.rows(), c.groups()));
        for (VersionMetrics v : t.versions()) {
          sb.append("<td>").append(fmt(v.metrics().get("auc"), "%.4f")).append("</td><td>")
              .append(fmt(v.metrics().get("logloss"), "%.4f")).append("</td>");
        }
        for (Delta d : t.deltas()) {
          if (d.metric().equals("auc") || d.metric().equals("logloss")) {
            deltaCells(sb, d, r.options().bootstrap());
          }
        }
        sb.append("</tr>");
      }
      sb.append("</table>");
      if (r.versions().size() > 1) {
        sb.append("<div class='plots'>");
        for (ModelVersion v : r.versions().subList(1, r.versions().size())) {
          List<Svg.Interval> rows = new ArrayList<>();
          for (Cell c : f.values()) {
            for (Delta d : c.tasks().get(ti).deltas()) {
              if (d.version().equals(v.label()) && d.metric().equals("auc")) {
                rows.add(new Svg.Interval((c.mover() ? "\u2605 " : "") + c.value(), d.delta(), d.lo(), d.hi(),
                    d.verdict()));
              }
            }
          }
          sb.append(Svg.forest(id("slice", f.field(), task, v.label()), "AUC " + v.label() + " \u2212 "
              + r.versions().getFirst().label() + " by " + f.field() + ": " + task, rows, true));
        }
        sb.append("</div>");
      }
    }
  }

  private static String fmt(Double x, String format) {
    return x == null || Double.isNaN(x) ? "&ndash;" : String.format(Locale.ROOT, format, x);
  }
}
