package io.hiformer.features;

import io.hiformer.features.FeatureSchema.Field;
import io.hiformer.features.FeatureSchema.Task;
import io.hiformer.model.ModelConfig.FieldKind;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One pass of fitting: value counts for vocabulary fields, a running mean and variance
 * (Welford, numerically stable in one pass) for dense fields. A record is read completely
 * before anything is counted, so a bad row leaves no trace.
 */
final class TransformFitter {
  private final FeatureSchema schema;
  private final RawValues raw;
  private final List<Map<String, long[]>> counts = new ArrayList<>();
  private final long[] n;
  private final double[] mean;
  private final double[] m2;
  private final double[] numbers;
  private final long[] seen;  // records with a value of the field, for the dead-feature warnings

  TransformFitter(FeatureSchema schema) {
    this.schema = schema;
    this.raw = new RawValues(schema.missingValues());
    int f = schema.fields().size();
    for (int i = 0; i < f; i++) {
      counts.add(new HashMap<>());
    }
    n = new long[f];
    mean = new double[f];
    m2 = new double[f];
    numbers = new double[f];
    seen = new long[f];
  }

  void add(RawRecord record) {
    List<Field> fields = schema.fields();
    for (int i = 0; i < fields.size(); i++) {
      Field f = fields.get(i);
      if (f.kind() == FieldKind.DENSE) {
        numbers[i] = raw.number(record, f.column(), f.name());
      }
    }
    for (Task t : schema.tasks()) {
      raw.label(record, t);  // only for its bad-row check
    }
    for (int i = 0; i < fields.size(); i++) {
      Field f = fields.get(i);
      switch (f.kind()) {
        case CATEGORICAL -> count(i, f, record.value(f.column()));
        case BAG -> {
          for (String item : record.bag(f.column(), f.separator())) {
            count(i, f, item);
          }
        }
        case DENSE -> {
          seen[i] += Double.isNaN(numbers[i]) ? 0 : 1;
          observe(i, f);
        }
      }
    }
  }

  private void count(int i, Field f, String value) {
    if (value != null && !raw.isMissing(value)) {
      seen[i]++;
    }
    if (!f.hashed() && !raw.isMissing(value)) {
      counts.get(i).computeIfAbsent(value, v -> new long[1])[0]++;
    }
  }

  private void observe(int i, Field f) {
    if (Double.isNaN(numbers[i]) || !f.bucketize().isEmpty()) {
      return;
    }
    double x = FieldTransform.prepare(f, numbers[i]);
    n[i]++;
    double delta = x - mean[i];
    mean[i] += delta / n[i];
    m2[i] += delta * (x - mean[i]);
  }

  Transforms fitted() {
    List<FieldTransform> out = new ArrayList<>();
    List<Field> fields = schema.fields();
    for (int i = 0; i < fields.size(); i++) {
      Field f = fields.get(i);
      double std = n[i] == 0 ? 1 : Math.sqrt(m2[i] / n[i]);
      // A constant (or unseen) field has no spread: dividing by 1 maps it to 0 instead of NaN.
      out.add(new FieldTransform(f, vocabulary(counts.get(i), f.minCount()), mean[i], std > 1e-12 ? std : 1));
    }
    return new Transforms(out, schema.tasks(), schema.missingValues());
  }

  /**
   * Fields that will train as dead features: a column with no value in any record (absent from
   * the data or always missing), or a {@code min_count} that leaves a vocabulary empty.
   */
  List<String> warnings() {
    List<String> out = new ArrayList<>();
    List<Field> fields = schema.fields();
    for (int i = 0; i < fields.size(); i++) {
      Field f = fields.get(i);
      if (seen[i] == 0) {
        out.add("field '" + f.name() + "': column '" + f.column() + "' has no value in any training row (absent"
            + " from the data or always missing); the field carries nothing");
      } else if (f.kind() != FieldKind.DENSE && !f.hashed() && vocabulary(counts.get(i), f.minCount()).isEmpty()) {
        long most = counts.get(i).values().stream().mapToLong(c -> c[0]).max().orElse(0);
        out.add("field '" + f.name() + "': min_count " + f.minCount() + " leaves its vocabulary empty (the most"
            + " frequent value occurs " + most + " times); the field carries nothing");
      }
    }
    return out;
  }

  private static List<String> vocabulary(Map<String, long[]> counts, int minCount) {
    List<Map.Entry<String, long[]>> kept = new ArrayList<>();
    for (Map.Entry<String, long[]> e : counts.entrySet()) {
      if (e.getValue()[0] >= minCount) {
        kept.add(e);
      }
    }
    kept.sort(Comparator.<Map.Entry<String, long[]>>comparingLong(e -> -e.getValue()[0])
        .thenComparing(Map.Entry::getKey));
    return kept.stream().map(Map.Entry::getKey).toList();
  }
}
