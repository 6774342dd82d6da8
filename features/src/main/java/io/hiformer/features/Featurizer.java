package io.hiformer.features;

import io.hiformer.features.FeatureSchema.Task;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig.FieldKind;
import java.util.List;
import java.util.function.Consumer;

/**
 * The one place raw values become model inputs, for training and serving alike: appends a
 * {@link RawRecord} to a {@link Batch} as categorical ids, bag ids, dense values and labels.
 *
 * <p>Missing values (absent column, empty text, or one of the schema's {@code missing_values}):
 * categorical and bucketized fields get id 0; bags drop missing items (an all-missing bag is
 * empty); dense fields get the fitted mean, which is 0 after standardisation; a missing label
 * gets mask 0. Unseen categorical values also get id 0. A value that is present but not a number
 * (for a dense field or a threshold label) makes the row bad; so does a dense value that is not a
 * finite float ({@link DenseValues}), as read or after its field's transform (a standardised value
 * far from a small spread). A stored value ({@link RawRecord#isStored}) that is bad reads as
 * missing instead, and is reported to the {@code unusableStored} listener with its field's name.
 *
 * <p>Reuses its buffers, so categorical and dense fields allocate nothing per record (bags
 * allocate their id arrays). Not thread-safe: use one per thread.
 */
public final class Featurizer {
  private final List<FieldTransform> fields;
  private final List<Task> tasks;
  private final RawValues raw;
  private final int[] categorical;
  private final int[][] bags;
  private final float[] dense;
  private final float[] labels;
  private final float[] mask;
  private final Consumer<String> unusableStored;

  public Featurizer(Transforms transforms) {
    this(transforms, field -> { });
  }

  /**
   * A featurizer that reads a bad stored value as missing and hands its field's name to
   * {@code unusableStored} (called on the featurizing thread; it must not allocate on hot paths).
   */
  public Featurizer(Transforms transforms, Consumer<String> unusableStored) {
    this.unusableStored = java.util.Objects.requireNonNull(unusableStored, "unusableStored");
    this.fields = transforms.fields;
    this.tasks = transforms.tasks;
    this.raw = new RawValues(transforms.missingValues);
    int c = 0;
    int b = 0;
    int d = 0;
    for (FieldTransform f : fields) {
      switch (f.spec.modelKind()) {
        case CATEGORICAL -> c++;
        case BAG -> b++;
        case DENSE -> d++;
      }
    }
    categorical = new int[c];
    bags = new int[b][];
    dense = new float[d];
    labels = new float[tasks.size()];
    mask = new float[tasks.size()];
  }

  /**
   * Appends {@code record} to {@code batch} (built from a config with {@link Transforms#modelFields()}
   * and {@link Transforms#tasks()}); returns its index in the batch. Throws
   * {@link BadRowException} for a value no transform can read; the batch is then unchanged.
   */
  public int add(RawRecord record, Batch batch) {
    int c = 0;
    int b = 0;
    int d = 0;
    for (FieldTransform f : fields) {
      var spec = f.spec;
      if (spec.kind() == FieldKind.DENSE) {
        double x = number(record, f);
        if (spec.bucketize().isEmpty()) {
          dense[d++] = denseInput(record, f, x);
        } else {
          categorical[c++] = f.bucket(x);
        }
      } else if (spec.kind() == FieldKind.CATEGORICAL) {
        String value = record.value(spec.column());
        categorical[c++] = raw.isMissing(value) ? 0 : f.id(value);
      } else {
        bags[b++] = bagIds(f, record.bag(spec.column(), spec.separator()));
      }
    }
    for (int t = 0; t < tasks.size(); t++) {
      float label = raw.label(record, tasks.get(t));
      boolean known = !Float.isNaN(label);
      labels[t] = known ? label : 0f;
      mask[t] = known ? 1f : 0f;
    }
    return batch.add(categorical, bags, dense, labels, mask);
  }

  /** The field's raw number: NaN when missing, or when a stored value is bad. */
  private double number(RawRecord record, FieldTransform f) {
    try {
      return raw.number(record, f.spec.column(), f.spec.name());
    } catch (BadRowException e) {
      return missingIfStored(record, f, e);
    }
  }

  /** The field's model input for {@code x}; one that the transform takes out of the float range is bad. */
  private float denseInput(RawRecord record, FieldTransform f, double x) {
    float v = f.dense(x);
    if (DenseValues.fits(v)) {
      return v;
    }
    if (record.isStored(f.spec.column())) {
      // Checked before building an exception: a stored value may be read on every call.
      return f.dense(unusable(f));
    }
    throw new BadRowException(record.location(), "field '" + f.spec.name() + "': column '" + f.spec.column()
        + "' holds " + x + ", which its transform (mean " + f.mean + ", std " + f.std + ") takes to " + v
        + ", beyond the float range");
  }

  private double missingIfStored(RawRecord record, FieldTransform f, BadRowException e) {
    if (!record.isStored(f.spec.column())) {
      throw e;
    }
    return unusable(f);
  }

  /** Reports a stored value of {@code f} that cannot be used; it reads as missing (NaN). */
  private double unusable(FieldTransform f) {
    unusableStored.accept(f.spec.name());
    return Double.NaN;
  }

  private int[] bagIds(FieldTransform f, List<String> items) {
    int present = 0;
    for (String item : items) {
      if (!raw.isMissing(item)) {
        present++;
      }
    }
    int[] ids = new int[present];
    int k = 0;
    for (String item : items) {
      if (!raw.isMissing(item)) {
        ids[k++] = f.id(item);
      }
    }
    return ids;
  }
}
