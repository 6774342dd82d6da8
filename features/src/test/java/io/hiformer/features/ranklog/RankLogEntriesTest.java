package io.hiformer.features.ranklog;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.data.ExampleRows;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.TrainingExample;
import java.util.List;
import org.junit.jupiter.api.Test;

class RankLogEntriesTest {
  static final ModelConfig CONFIG = new ModelConfig("t", 4, 2, 1, List.of("click"), 2, 2, 1, List.of(), 1, true,
      List.of(new Field("user", FieldKind.CATEGORICAL, Side.USER, 10),
          new Field("tags", FieldKind.BAG, Side.ITEM, 5),
          new Field("price", FieldKind.DENSE, Side.ITEM, 0),
          new Field("recent", FieldKind.BAG, Side.USER, 7),
          new Field("hour", FieldKind.CATEGORICAL, Side.CONTEXT, 24)));

  @Test
  void loggedInputsAreTheRowsExactly() {
    Batch batch = new Batch(CONFIG, 3);
    batch.add(new int[] {3, 17}, new int[][] {{4, 1}, {}}, new float[] {0.1f}, null, null);
    batch.add(new int[] {0, 0}, new int[][] {{}, {6, 6, 2}}, new float[] {-2.5e-7f}, null, null);
    batch.add(new int[] {9, 23}, new int[][] {{2}, {5}}, new float[] {Float.MIN_VALUE}, null, null);

    assertThat(RankLogEntries.inputs(CONFIG, batch, 1)).isEqualTo(ModelInputs.newBuilder()
        .addCategoricalIds(0).addCategoricalIds(0).addBagIds(6).addBagIds(6).addBagIds(2)
        .addBagOffsets(0).addBagOffsets(0).addBagOffsets(3).addDense(-2.5e-7f).build());

    ExampleRows rows = new ExampleRows(CONFIG);
    Batch replay = new Batch(CONFIG, 3);
    for (int b = 0; b < 3; b++) {
      rows.add(TrainingExample.newBuilder().setInputs(RankLogEntries.inputs(CONFIG, batch, b))
          .addLabels(0f).addLabelMask(false).build(), replay);
      for (int c = 0; c < 2; c++) {
        assertThat(replay.categorical(b, c)).isEqualTo(batch.categorical(b, c));
      }
      for (int k = 0; k < 2; k++) {
        assertThat(replay.bag(b, k)).containsExactly(batch.bag(b, k));
      }
      assertThat(Float.floatToRawIntBits(replay.dense(b, 0))).isEqualTo(Float.floatToRawIntBits(batch.dense(b, 0)));
    }
  }

  /** The bytes written straight from the buffers parse to the entry the message builder makes. */
  @Test
  void encodedEntriesParseToTheBuiltEntry() throws Exception {
    ModelConfig twoTasks = new ModelConfig("t", 4, 2, 1, List.of("click", ""), 2, 2, 1, List.of(), 1, true,
        CONFIG.fields());
    Batch batch = new Batch(twoTasks, 4);
    batch.add(new int[] {3, 17}, new int[][] {{4, 1}, {}}, new float[] {0.1f}, null, null);
    batch.add(new int[] {0, 0}, new int[][] {{}, {6, 6, 2}}, new float[] {-0f}, null, null);
    batch.add(new int[] {9, 300_000}, new int[][] {{2}, {5}}, new float[] {Float.MIN_VALUE}, null, null);
    batch.add(new int[] {-1, 23}, new int[][] {{}, {}}, new float[] {0f}, null, null);
    RankRequest request = RankRequest.newBuilder().setUserId("u\u00e9").setUnitId("")
        .putContext("hour", FeatureValue.newBuilder().setCategorical("7").build())
        .addCandidates(Candidate.newBuilder().setItemId("i1")).addCandidates(Candidate.newBuilder().setItemId(""))
        .addCandidates(Candidate.newBuilder().setItemId("\u00fc\u4e2d")).addCandidates(Candidate.newBuilder().setItemId("i4"))
        .build();
    float[] probabilities = {0.25f, 0f, -0f, 1f, 0.5f, Float.MIN_VALUE, 1e-30f, 0.75f};
    float[] scores = {0.125f, 0f, 0.5f, -0f};
    int[] positions = {2, 0, 1, 3};
    RankLogEntries.Served served = new RankLogEntries.Served("m", 3, "", twoTasks, 1_700_000_000_000L);
    RankLogEntry built = RankLogEntries.entry(request, "r1", served, batch, probabilities, scores, positions, 2);
    byte[] encoded = RankLogEntries.encode(request, "r1", served, batch, probabilities, scores, positions, 2);
    assertThat(RankLogEntry.parseFrom(encoded)).isEqualTo(built);
    assertThat(encoded).hasSize(built.getSerializedSize());
  }
}
