package io.hiformer.features.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.TrainingExample;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExampleFilesTest {
  @TempDir Path dir;

  static final ModelConfig CONFIG = new ModelConfig("t", 4, 2, 1, List.of("click", "buy"), 2, 2, 1, List.of(), 1, true,
      List.of(new Field("user", FieldKind.CATEGORICAL, Side.USER, 10),
          new Field("tags", FieldKind.BAG, Side.ITEM, 5),
          new Field("price", FieldKind.DENSE, Side.ITEM, 0),
          new Field("recent", FieldKind.BAG, Side.USER, 7)));

  static TrainingExample example(int user, float price, boolean buyKnown, long... bagIds) {
    return TrainingExample.newBuilder()
        .setInputs(ModelInputs.newBuilder().addCategoricalIds(user)
            .addAllBagIds(Arrays.stream(bagIds).boxed().toList())
            .addBagOffsets(0).addBagOffsets(1).addBagOffsets(bagIds.length)
            .addDense(price))
        .addLabels(1f).addLabels(buyKnown ? 1f : 0f)
        .addLabelMask(true).addLabelMask(buyKnown)
        .setRequestId("r" + user)
        .build();
  }

  @Test
  void roundTripIntoBatchRows() throws IOException {
    Path file = dir.resolve("examples.pb");
    List<TrainingExample> written = List.of(example(3, 0.5f, true, 4, 6, 1), example(0, -1f, false, 2));
    ExampleFiles.write(file, written);
    ExampleRows rows = new ExampleRows(CONFIG);
    List<TrainingExample> read = new ArrayList<>();
    ExampleFiles.read(file, rows, BadRows.none()).forEach(read::add);
    assertThat(read).isEqualTo(written);

    Batch batch = new Batch(CONFIG, 2);
    read.forEach(e -> rows.add(e, batch));
    assertThat(batch.categorical(0, 0)).isEqualTo(3);
    assertThat(batch.bag(0, 0)).containsExactly(4);
    assertThat(batch.bag(0, 1)).containsExactly(6, 1);
    assertThat(batch.bag(1, 0)).containsExactly(2);
    assertThat(batch.bag(1, 1)).isEmpty();
    assertThat(batch.dense(1, 0)).isEqualTo(-1f);
    assertThat(batch.label(0, 1)).isEqualTo(1f);
    assertThat(batch.labelMask(1, 1)).isZero();
    assertThat(batch.labelMask(1, 0)).isEqualTo(1f);
  }

  @Test
  void examplesThatDoNotFitTheModelAreBadRows() throws IOException {
    Path file = dir.resolve("bad.pb");
    ExampleFiles.write(file, List.of(
        example(3, 0.5f, true, 4, 1),
        example(10, 0.5f, true, 4, 1),
        example(3, Float.NaN, true, 4, 1),
        example(3, 0.5f, true, 5, 1),
        example(3, 0.5f, true, 4, 1).toBuilder().setLabels(0, 2f).build()));
    BadRows bad = BadRows.tolerate(10);
    List<TrainingExample> read = new ArrayList<>();
    ExampleFiles.read(file, new ExampleRows(CONFIG), bad).forEach(read::add);
    assertThat(read).hasSize(1);
    assertThat(bad.count()).isEqualTo(4);
    assertThat(bad.first()).hasMessage(file + ":#2: training example field 'user' id 10 is outside [0, 10)");
  }

  @Test
  void aCorruptStreamStopsTheRead() throws IOException {
    Path file = dir.resolve("cut.pb");
    ExampleFiles.write(file, List.of(example(1, 0f, true, 1), example(2, 0f, true, 1)));
    byte[] bytes = Files.readAllBytes(file);
    Files.write(file, Arrays.copyOf(bytes, bytes.length - 3));
    Iterable<TrainingExample> examples = ExampleFiles.read(file, new ExampleRows(CONFIG), BadRows.tolerate(100));
    assertThatThrownBy(() -> examples.forEach(e -> { }))
        .isInstanceOf(BadRowException.class)
        .hasMessageStartingWith(file + ":#2: not a length-delimited TrainingExample");
  }
}
