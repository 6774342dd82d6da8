package io.hiformer.features;

import io.hiformer.proto.FeatureValue;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One raw example before feature transforms: a text value per column name. CSV and TSV rows,
 * libFM lines, joined side tables and protobuf feature maps all look like this to the
 * {@link Featurizer}, so training and serving transform values the same way.
 *
 * <p>{@link #value} returns null when the record has no such column; an empty string, or one of
 * the schema's {@code missing_values}, is a present but missing value. Both end up as the
 * field's missing value (see {@link Featurizer}).
 */
public interface RawRecord {

  /** The text of {@code column}, or null when this record has no such column. */
  String value(String column);

  /**
   * The items of a bag column. Text sources split {@link #value} on {@code separator} and drop
   * empty items; sources that hold lists (protobuf) return them as they are.
   */
  default List<String> bag(String column, String separator) {
    String text = value(column);
    List<String> items = new ArrayList<>();
    if (text == null || text.isEmpty()) {
      return items;
    }
    int start = 0;
    while (start <= text.length()) {
      int end = text.indexOf(separator, start);
      if (end < 0) {
        end = text.length();
      }
      if (end > start) {
        items.add(text.substring(start, end));
      }
      start = end + separator.length();
    }
    return items;
  }

  /**
   * True when the source holds {@code column} as a number (a protobuf dense value), which
   * {@link #number} then returns without a round trip through decimal text. Text sources say false.
   */
  default boolean isNumber(String column) {
    return false;
  }

  /** The number in {@code column}, when {@link #isNumber} says there is one. */
  default double number(String column) {
    throw new UnsupportedOperationException("column '" + column + "' holds no number");
  }

  /**
   * True when the value of {@code column} comes from stored data (the online store at serving
   * time) rather than from whoever hands over the record: such a value that its field cannot use
   * reads as missing, and is counted, instead of making the record bad, since the caller cannot
   * correct it. Files and requests say false.
   */
  default boolean isStored(String column) {
    return false;
  }

  /** Where the record came from ({@code file:line}), for error messages. */
  default String location() {
    return "record";
  }

  /** A record over a map of column to text, e.g. for tests or hand-built requests. */
  static RawRecord of(Map<String, String> values) {
    Map<String, String> copy = Map.copyOf(values);
    return copy::get;
  }

  /**
   * A record over protobuf feature values (ranker requests, feature updates). Numbers and
   * integer ids become their decimal text; a bag is only visible through {@link #bag}, so a
   * bag given for a categorical or dense field reads as missing.
   */
  static RawRecord ofFeatures(Map<String, FeatureValue> values) {
    return new FeatureValueRecord(values);
  }

  /**
   * The text a protobuf feature value reads as (see {@link #ofFeatures}): numbers and integer ids
   * in decimal, a bag or an unset value as empty; null for null.
   */
  static String text(FeatureValue v) {
    if (v == null) {
      return null;
    }
    return switch (v.getKindCase()) {
      case CATEGORICAL -> v.getCategorical();
      case ID -> Long.toString(v.getId());
      case DENSE -> Double.toString(v.getDense());
      case BAG, KIND_NOT_SET -> "";
    };
  }
}
