package io.hiformer.features;

import io.hiformer.features.FeatureSchema.Task;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads raw text the one way fitting and featurizing both use: what counts as missing, how
 * numbers and labels parse. Kept in one place so the statistics are fitted on exactly the values
 * the featurizer later sees.
 */
final class RawValues {
  private final Set<String> missing;

  RawValues(List<String> missingValues) {
    this.missing = new HashSet<>(missingValues);
    this.missing.add("");
  }

  /** Null, empty or one of the schema's missing_values. */
  boolean isMissing(String text) {
    return text == null || missing.contains(text);
  }

  /**
   * The number in {@code column}: NaN when missing (absent, empty, one of the missing values, or
   * NaN itself); a bad row when it is not a number, or not a finite float ({@link DenseValues}).
   */
  double number(RawRecord record, String column, String field) {
    double x;
    if (record.isNumber(column)) {
      x = record.number(column);
    } else {
      String text = record.value(column);
      if (isMissing(text)) {
        return Double.NaN;
      }
      try {
        x = Double.parseDouble(text);
      } catch (NumberFormatException e) {
        throw new BadRowException(record.location(),
            "field '" + field + "': column '" + column + "' holds '" + text + "', not a number");
      }
    }
    if (Double.isNaN(x)) {
      return Double.NaN;
    }
    String problem = DenseValues.problem(x);
    if (problem != null) {
      throw new BadRowException(record.location(), "field '" + field + "': column '" + column + "' " + problem);
    }
    return x;
  }

  /** 1 or 0 for a present label, NaN for a missing one; a bad row when a threshold label is not a number. */
  float label(RawRecord record, Task task) {
    String text = record.value(task.column());
    if (isMissing(text)) {
      return Float.NaN;
    }
    if (!task.positiveValues().isEmpty()) {
      return task.positiveValues().contains(text) ? 1f : 0f;
    }
    double x;
    try {
      x = Double.parseDouble(text);
    } catch (NumberFormatException e) {
      throw new BadRowException(record.location(),
          "task '" + task.name() + "': column '" + task.column() + "' holds '" + text + "', not a number");
    }
    return Double.isNaN(x) ? Float.NaN : x > task.positiveAbove() ? 1f : 0f;
  }
}
