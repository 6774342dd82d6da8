package io.hiformer.features;

import io.hiformer.features.FeatureSchema.Field;
import io.hiformer.features.FeatureSchema.Task;
import io.hiformer.model.ModelConfig.FieldKind;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * One pass of fitting: exact value counts for vocabulary fields (spilled to disk past a budget of
 * distinct values in memory, see {@link VocabularyCounter}), a running mean and variance
 * (Welford, numerically stable in one pass) for dense fields. A record is read completely
 * before anything is counted, so a bad row leaves no trace.
 */
final class TransformFitter implements AutoCloseable {
  private final FeatureSchema schema;
  private final RawValues raw;
  /** Distinct values held in memory over all fields before the largest field's counts spill to disk. */
  static final long DISTINCT_VALUES_IN_MEMORY = 1_000_000;
  private final List<VocabularyCounter> counts = new ArrayList<>();
  private final long inMemoryBudget;
  private long inMemory;
  private final long[] n;
  private final double[] mean;
  private final double[] m2;
  private final double[] numbers;
  private final long[] seen;  // records with a value of the field, for the dead-feature warnings
  private final List<String> warnings = new ArrayList<>();

  TransformFitter(FeatureSchema schema) {
    this(schema, DISTINCT_VALUES_IN_MEMORY);
  }

  TransformFitter(FeatureSchema schema, long inMemoryBudget) {
    this.schema = schema;
    this.inMemoryBudget = inMemoryBudget;
    this.raw = new RawValues(schema.missingValues());
    int f = schema.fields().size();
    for (int i = 0; i < f; i++) {
      counts.add(new VocabularyCounter(schema.fields().get(i).name()));
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
      if (counts.get(i).add(value) && ++inMemory > inMemoryBudget) {
        VocabularyCounter largest = counts.stream().max(Comparator.comparingInt(VocabularyCounter::inMemory)).get();
        inMemory -= largest.inMemory();
        largest.spill();
      }
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
      List<String> vocabulary = counts.get(i).vocabulary(f.minCount(), f.maxVocabulary());
      if (seen[i] == 0) {
        warnings.add("field '" + f.name() + "': column '" + f.column() + "' has no value in any training row (absent"
            + " from the data or always missing); the field carries nothing");
      } else if (f.kind() != FieldKind.DENSE && !f.hashed() && !f.open() && vocabulary.isEmpty()) {
        warnings.add("field '" + f.name() + "': min_count " + f.minCount() + " leaves its vocabulary empty (the most"
            + " frequent value occurs " + counts.get(i).mostFrequent() + " times); the field carries nothing");
      }
      // A constant (or unseen) field has no spread: dividing by 1 maps it to 0 instead of NaN.
      // An open field starts from the fitted vocabulary (at most max_vocabulary ids), all last seen at example 0.
      out.add(f.open() ? new FieldTransform(f, OpenVocabulary.seeded(f, vocabulary))
          : new FieldTransform(f, vocabulary, mean[i], std > 1e-12 ? std : 1));
    }
    return new Transforms(out, schema.tasks(), schema.missingValues());
  }

  /**
   * Fields that will train as dead features, found by {@link #fitted}: a column with no value in
   * any record (absent from the data or always missing), or a {@code min_count} that leaves a
   * vocabulary empty.
   */
  List<String> warnings() {
    return warnings;
  }

  /** Deletes any spilled counts (after {@link #fitted}, or when fitting stops early). */
  @Override
  public void close() {
    counts.forEach(VocabularyCounter::close);
  }
}
