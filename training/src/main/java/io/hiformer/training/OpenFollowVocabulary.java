package io.hiformer.training;

import io.hiformer.features.OpenVocabularies;
import io.hiformer.features.OpenVocabulary;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.TrainingExample;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The open fields of a followed model growing from the stream ({@link OpenVocabularies}): every
 * trained example is observed, the rows admitted since the last step are initialised before it,
 * the state is the vocabularies' snapshot (transforms JSON) and each published version stores the
 * grown transforms. {@link FollowTrainer} attaches one by itself when its base has open fields.
 */
final class OpenFollowVocabulary implements FollowVocabulary {
  private OpenVocabularies open;

  OpenFollowVocabulary(Transforms base) {
    OpenVocabularies.requireExampleColumns(base);
    this.open = OpenVocabularies.of(base);
  }

  @Override
  public TrainingExample observe(TrainingExample example) {
    open.observe(OpenVocabularies.rawValues(example));
    return example;
  }

  @Override
  public void beforeStep(Trainer trainer) {
    for (OpenVocabularies.Growth g : open.drain()) {
      trainer.initialiseRows(g.tensor(), g.admitted());
    }
  }

  /** Only called right after {@link #beforeStep} (the trainer settles first): nothing admitted is left undrained. */
  @Override
  public byte[] state() {
    return open.snapshot().toJson().getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public void restore(byte[] state) {
    if (state == null) {
      throw new IllegalStateException("the checkpoint has no vocabulary state, but the base has open fields");
    }
    open = OpenVocabularies.of(Transforms.fromJson(new String(state, StandardCharsets.UTF_8)));
  }

  @Override
  public ExampleRows rows(ModelConfig config) {
    return new ExampleRows(config, open);
  }

  @Override
  public String transforms(String base) {
    return open.snapshot().toJson();
  }

  @Override
  public List<OpenVocabulary.Stats> stats() {
    return open.stats();
  }
}
