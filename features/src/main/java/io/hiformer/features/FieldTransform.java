package io.hiformer.features;

import io.hiformer.features.FeatureSchema.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One field's fitted transform: a vocabulary or hash buckets for categorical and bag fields;
 * clip, signed log1p, then standardisation or buckets for dense fields.
 */
final class FieldTransform {
  final Field spec;
  /** Vocabulary in id order: {@code vocabulary.get(i)} has id {@code i + 1}. Empty when unused. */
  final List<String> vocabulary;
  /** Mean and standard deviation of the clipped, log1p'd value over the fitting data. */
  final double mean;
  final double std;
  /** The growing vocabulary of an open field (then {@link #vocabulary} is empty), else null. */
  final OpenVocabulary open;
  private final Map<String, Integer> ids;
  private final double[] boundaries;

  FieldTransform(Field spec, List<String> vocabulary, double mean, double std) {
    this(spec, vocabulary, mean, std, null);
  }

  /** An open field's transform: ids are the rows of {@code open} (shared, not copied). */
  FieldTransform(Field spec, OpenVocabulary open) {
    this(spec, List.of(), 0, 1, open);
  }

  private FieldTransform(Field spec, List<String> vocabulary, double mean, double std, OpenVocabulary open) {
    this.spec = spec;
    this.open = open;
    this.vocabulary = List.copyOf(vocabulary);
    // Fitted (in double) or read back: either way the statistics must be usable in float, else a
    // standardised feature would silently read as 0 (std = Infinity) or NaN.
    if (spec.kind() == FieldKind.DENSE && (!DenseValues.fits(mean) || !DenseValues.fits(std) || !(std > 0))) {
      throw new IllegalArgumentException("field '" + spec.name() + "': mean " + mean + " and std " + std
          + " must be finite floats and std positive");
    }
    this.mean = mean;
    this.std = std;
    this.ids = HashMap.newHashMap(vocabulary.size());
    for (int i = 0; i < vocabulary.size(); i++) {
      if (ids.put(vocabulary.get(i), i + 1) != null) {
        throw new IllegalArgumentException("field '" + spec.name() + "': '" + vocabulary.get(i)
            + "' appears twice in the vocabulary");
      }
    }
    this.boundaries = spec.bucketize().stream().mapToDouble(Double::doubleValue).toArray();
  }

  /** Embedding rows: id 0 (missing / out of vocabulary) plus one per value, bucket or hash bucket. */
  int vocabSize() {
    if (spec.kind() == FieldKind.DENSE) {
      return boundaries.length == 0 ? 0 : boundaries.length + 2;
    }
    return 1 + (spec.hashed() ? spec.hashBuckets() : open != null ? open.capacity() : vocabulary.size());
  }

  /** The id of a present categorical value: its vocabulary id or open row, 0 when unknown, or its hash bucket. */
  int id(String value) {
    if (spec.hashed()) {
      return Murmur3.bucket(value, spec.hashBuckets());
    }
    if (open != null) {
      return open.row(value);
    }
    Integer id = ids.get(value);
    return id == null ? 0 : id;
  }

  /** Clip then signed log1p: the value that statistics and buckets are about. */
  static double prepare(Field spec, double raw) {
    double x = Math.min(Math.max(raw, spec.clipLow()), spec.clipHigh());
    // Signed so that negative inputs stay defined: sign(x) * ln(1 + |x|).
    return spec.log1p() ? Math.copySign(Math.log1p(Math.abs(x)), x) : x;
  }

  /**
   * The model's dense input for a raw number (NaN = missing): the fitted mean, 0 once standardised.
   * Computed in double; the result may still leave the float range (the caller checks).
   */
  float dense(double raw) {
    double x = Double.isNaN(raw) ? mean : prepare(spec, raw);
    return (float) (spec.standardize() ? (x - mean) / std : x);
  }

  /** The bucket of a raw number: 0 when missing, else 1 + the number of boundaries at or below it. */
  int bucket(double raw) {
    if (Double.isNaN(raw)) {
      return 0;
    }
    int at = Arrays.binarySearch(boundaries, prepare(spec, raw));
    return 1 + (at >= 0 ? at + 1 : -at - 1);
  }
}
