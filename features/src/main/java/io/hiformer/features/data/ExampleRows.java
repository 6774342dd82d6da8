package io.hiformer.features.data;

import io.hiformer.features.DenseValues;
import io.hiformer.features.OpenVocabularies;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.TrainingExample;
import java.util.List;

/**
 * Turns logged {@link TrainingExample}s, whose inputs are already transformed, into batch rows
 * for one model config, checking them against it first: counts, id ranges, finite values.
 * Reuses its buffers; not thread-safe. The example weight is not carried: {@link Batch} has no
 * per-example weights.
 */
public final class ExampleRows {
  private final List<ModelConfig.Field> categorical;
  private final List<ModelConfig.Field> bagFields;
  private final int numDense;
  private final int numTasks;
  private final int[] ids;
  private final int[][] bags;
  private final float[] dense;
  private final float[] labels;
  private final float[] mask;
  private final OpenVocabularies open;

  public ExampleRows(ModelConfig config) {
    this(config, null);
  }

  /**
   * Rows whose open fields get their ids from {@code open}'s current vocabularies, looked up by the
   * example's raw user and item ids ({@link OpenVocabularies#rawValues}), not the served ids: those
   * are the serving version's rows. {@code open} may be null (every id as served).
   */
  public ExampleRows(ModelConfig config, OpenVocabularies open) {
    this.open = open == null || !open.any() ? null : open;
    this.categorical = config.categoricalFields();
    this.bagFields = config.bagFields();
    this.numDense = config.numDense();
    this.numTasks = config.numTasks();
    this.ids = new int[categorical.size()];
    this.bags = new int[bagFields.size()][];
    this.dense = new float[numDense];
    this.labels = new float[numTasks];
    this.mask = new float[numTasks];
  }

  /** Appends {@code example} to {@code batch}; throws IllegalArgumentException saying what does not fit. */
  public int add(TrainingExample example, Batch batch) {
    check(example);
    ModelInputs in = example.getInputs();
    for (int c = 0; c < ids.length; c++) {
      ids[c] = (int) in.getCategoricalIds(c);
    }
    for (int k = 0; k < bags.length; k++) {
      int from = in.getBagOffsets(k);
      bags[k] = new int[in.getBagOffsets(k + 1) - from];
      for (int p = 0; p < bags[k].length; p++) {
        bags[k][p] = (int) in.getBagIds(from + p);
      }
    }
    if (open != null) {
      open.remap(OpenVocabularies.rawValues(example), ids, bags);
    }
    for (int d = 0; d < numDense; d++) {
      dense[d] = in.getDense(d);
    }
    for (int t = 0; t < numTasks; t++) {
      boolean known = example.getLabelMask(t);
      labels[t] = known ? example.getLabels(t) : 0f;
      mask[t] = known ? 1f : 0f;
    }
    return batch.add(ids, bags, dense, labels, mask);
  }

  /** Throws IllegalArgumentException naming the first thing in {@code example} that does not fit the config. */
  void check(TrainingExample example) {
    ModelInputs in = example.getInputs();
    require(in.getCategoricalIdsCount() == categorical.size(),
        "has " + in.getCategoricalIdsCount() + " categorical ids, the model " + categorical.size());
    for (int c = 0; c < categorical.size(); c++) {
      inVocab(in.getCategoricalIds(c), categorical.get(c));
    }
    int offsets = bagFields.isEmpty() && in.getBagOffsetsCount() == 0 ? 1 : in.getBagOffsetsCount();
    require(offsets == bagFields.size() + 1,
        "has " + in.getBagOffsetsCount() + " bag offsets, the model's " + bagFields.size() + " bag fields need "
            + (bagFields.size() + 1));
    require(!bagFields.isEmpty() || in.getBagIdsCount() == 0,
        "has " + in.getBagIdsCount() + " bag ids, the model no bag fields");
    for (int k = 0; k < bagFields.size(); k++) {
      int from = in.getBagOffsets(k);
      int to = in.getBagOffsets(k + 1);
      require((k > 0 || from == 0) && from <= to && to <= in.getBagIdsCount()
              && (k < bagFields.size() - 1 || to == in.getBagIdsCount()),
          "bag offsets " + in.getBagOffsetsList() + " do not split " + in.getBagIdsCount() + " bag ids");
      for (int p = from; p < to; p++) {
        inVocab(in.getBagIds(p), bagFields.get(k));
      }
    }
    require(in.getDenseCount() == numDense, "has " + in.getDenseCount() + " dense values, the model " + numDense);
    for (int d = 0; d < numDense; d++) {
      require(DenseValues.fits(in.getDense(d)), "dense value " + d + " is " + in.getDense(d));
    }
    require(example.getLabelsCount() == numTasks && example.getLabelMaskCount() == numTasks,
        "has " + example.getLabelsCount() + " labels and " + example.getLabelMaskCount()
            + " mask flags, the model " + numTasks + " tasks");
    for (int t = 0; t < numTasks; t++) {
      float y = example.getLabels(t);
      require(y >= 0f && y <= 1f, "label " + t + " is " + y + ", outside [0, 1]");
    }
  }

  private static void inVocab(long id, ModelConfig.Field field) {
    require(id >= 0 && id < field.vocab(),
        "field '" + field.name() + "' id " + id + " is outside [0, " + field.vocab() + ")");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("training example " + message);
    }
  }
}
