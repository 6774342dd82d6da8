package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hiformer.model.SafeTensors.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFileTest {

  private static final byte[] SMALL = Golden.weights(Golden.SMALL);

  private static AbstractThrowableAssert<?, ? extends Throwable> rejects(byte[] file) {
    return assertThatThrownBy(() -> ModelFile.load(file)).isInstanceOf(ModelFileException.class);
  }

  /** The small golden model rebuilt with edited metadata and tensors. */
  private static byte[] smallWith(UnaryOperator<Map<String, String>> metadata, UnaryOperator<List<Tensor>> tensors) {
    SafeTensors f = SafeTensors.parse(SMALL);
    return new SafeTensors(metadata.apply(new LinkedHashMap<>(f.metadata())),
        tensors.apply(new ArrayList<>(f.tensors()))).toBytes();
  }

  private static String smallConfig() {
    return SafeTensors.parse(SMALL).metadata().get("config");
  }

  @Test
  void goldenSmallLoads() {
    ModelFile.Loaded m = ModelFile.load(SMALL);
    Parameters p = m.parameters();
    assertThat(p.config()).isEqualTo(ModelConfig.fromJson(Golden.configJson(Golden.SMALL)));
    assertThat(p.config().name()).isEqualTo("golden-small");
    assertThat(p.count()).isEqualTo(7258);
    assertThat(p.tensors()).hasSize(49);
    assertThat(p.tensors()).extracting(Parameters.Tensor::name)
        .containsExactlyElementsOf(Parameters.specs(p.config()).stream().map(Parameters.Spec::name).toList());
    assertThat(p.tensor("layers.1.attn.wq").shape()).containsExactly(2, 8, 8);
    assertThat(p.get("emb.user_id")).isEqualTo(SafeTensors.parse(SMALL).tensor("emb.user_id").floats());
    assertThat(m.metadata()).isEmpty();
  }

  @Test
  void goldenUnprunedLoads(@TempDir Path dir) throws IOException {
    Path path = dir.resolve("unpruned.safetensors");
    Files.write(path, Golden.weights(Golden.UNPRUNED));
    Parameters p = ModelFile.read(path);
    assertThat(p.config()).isEqualTo(ModelConfig.fromJson(Golden.configJson(Golden.UNPRUNED)));
    assertThat(p.count()).isEqualTo(2281);
    assertThat(p.tensors()).hasSize(23);
    assertThat(p.tensor("layers.0.attn.wq").shape()).containsExactly(4, 8, 8);
  }

  @Test
  void rejectionsFromAPathNameTheFile(@TempDir Path dir) throws IOException {
    Path nan = dir.resolve("nan.safetensors");
    Files.write(nan, SafeTensorsFixture.withFloat(SMALL, "task_tokens", 0, Float.NaN));
    assertThatThrownBy(() -> ModelFile.read(nan)).isInstanceOf(ModelFileException.class)
        .hasMessageStartingWith(nan + ": ").hasMessageContaining("'task_tokens' element 0 is NaN");
    Path cut = dir.resolve("cut.safetensors");
    Files.write(cut, java.util.Arrays.copyOf(SMALL, 100));
    assertThatThrownBy(() -> ModelFile.read(cut)).isInstanceOf(ModelFileException.class)
        .hasMessageStartingWith(cut + ": ").hasMessageContaining("beyond the end of the file");
  }

  @Test
  void writeThenReadIsBitExact(@TempDir Path dir) throws IOException {
    Parameters p = ModelFile.read(SMALL).copy();
    float[] w = p.get("task_tokens");
    w[0] = -0f;
    w[1] = Float.MIN_VALUE;
    w[2] = -Float.MAX_VALUE;
    Map<String, String> extra = new LinkedHashMap<>();
    extra.put("feature_transforms", "{\"price\": {\"log1p\": true}}");
    extra.put("lineage", "trained from run 42 · ✓");
    Path path = dir.resolve("m.safetensors");
    ModelFile.write(path, p, extra);
    ModelFile.Loaded back = ModelFile.load(path);
    assertThat(back.metadata()).isEqualTo(extra);
    assertThat(back.parameters().config()).isEqualTo(p.config());
    for (Parameters.Tensor t : p.tensors()) {
      Parameters.Tensor u = back.parameters().tensor(t.name());
      assertThat(u.shape()).isEqualTo(t.shape());
      for (int i = 0; i < t.size(); i++) {
        assertThat(Float.floatToRawIntBits(u.data()[i])).as(t.name() + "[" + i + "]")
            .isEqualTo(Float.floatToRawIntBits(t.data()[i]));
      }
    }
    assertThat(back.metadata()).containsExactlyEntriesOf(extra);
    assertThat(java.util.Arrays.equals(ModelFile.encode(back.parameters(), back.metadata()).toBytes(),
        Files.readAllBytes(path))).as("re-encoding reproduces the file byte for byte").isTrue();
  }

  @Test
  void writeRefusesConfigInExtraMetadataAndNonFiniteWeights(@TempDir Path dir) {
    Parameters p = ModelFile.read(SMALL).copy();
    Path path = dir.resolve("m.safetensors");
    assertThatThrownBy(() -> ModelFile.write(path, p, Map.of("config", "{}")))
        .isInstanceOf(IllegalArgumentException.class);
    p.get("final_ln.bias")[3] = Float.NaN;
    assertThatThrownBy(() -> ModelFile.write(path, p, Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("final_ln.bias").hasMessageContaining("3");
    assertThat(path).doesNotExist();
  }

  @Test
  void rejectsMissingConfig() {
    rejects(smallWith(m -> { m.remove("config"); m.put("other", "x"); return m; }, t -> t))
        .hasMessageContaining("no 'config' entry");
  }

  @Test
  void rejectsInvalidConfig() {
    rejects(smallWith(m -> { m.put("config", smallConfig().replace("\"heads\": 2", "\"heads\": 3")); return m; }, t -> t))
        .hasMessageContaining("'config' is not a valid config").hasMessageContaining("heads");
    rejects(smallWith(m -> { m.put("config", "{not json"); return m; }, t -> t))
        .hasMessageContaining("'config' is not a valid config").hasMessageContaining("not JSON");
  }

  @Test
  void rejectsConfigTooLargeToAddressWithoutOverflow() {
    String huge = smallConfig().replace("\"vocab\": 7", "\"vocab\": 2147483647");
    rejects(smallWith(m -> { m.put("config", huge); return m; }, t -> t))
        .hasMessageContaining("emb.user_id").hasMessageContaining("too large");
    String wide = smallConfig().replace("\"dense_tokens\": 2", "\"dense_tokens\": 2147483000");
    rejects(smallWith(m -> { m.put("config", wide); return m; }, t -> t)).hasMessageContaining("too large");
  }

  @Test
  void rejectsConfigImplyingFarMoreTensorsThanTheFileHolds() {
    String deep = smallConfig().replace("\"layers\": 2", "\"layers\": 2147483647");
    rejects(smallWith(m -> { m.put("config", deep); return m; }, t -> t))
        .hasMessageContaining("config implies 30064771079 tensors, but the file holds only 49");
    for (String name : List.of(Golden.SMALL, Golden.UNPRUNED)) {
      ModelConfig c = ModelConfig.fromJson(Golden.configJson(name));
      assertThat(ModelFile.tensorCount(c)).isEqualTo(Parameters.specs(c).size());
    }
  }

  @Test
  void rejectsWrongDtype() {
    rejects(smallWith(m -> m, ts -> {
      ts.replaceAll(t -> t.name().equals("final_ln.bias") ? Tensor.f64(t.name(), t.shape(), t.doubles()) : t);
      return ts;
    })).hasMessageContaining("'final_ln.bias' has dtype F64, expected F32");
  }

  @Test
  void rejectsShapeThatDisagreesWithConfig() {
    ObjectNode h = SafeTensorsFixture.header(SMALL);
    ArrayNode shape = (ArrayNode) h.get("emb.user_id").get("shape");
    shape.removeAll().add(8).add(7);
    rejects(SafeTensorsFixture.file(h, SafeTensorsFixture.data(SMALL)))
        .hasMessageContaining("'emb.user_id' has shape [8, 7], but the config implies [7, 8]");
  }

  @Test
  void rejectsMissingTensor() {
    rejects(smallWith(m -> m, ts -> {
      ts.removeIf(t -> t.name().equals("layers.1.ffn.b2"));
      return ts;
    })).hasMessageContaining("missing tensor 'layers.1.ffn.b2' (expected shape [2, 8])");
  }

  @Test
  void rejectsExtraTensor() {
    rejects(smallWith(m -> m, ts -> {
      ts.add(Tensor.f32("layers.2.ln1.weight", new int[] {8}, new float[8]));
      return ts;
    })).hasMessageContaining("unexpected tensor 'layers.2.ln1.weight'");
  }

  @Test
  void rejectsNanWeight() {
    rejects(SafeTensorsFixture.withFloat(SMALL, "layers.0.attn.uk", 17, Float.NaN))
        .hasMessageContaining("'layers.0.attn.uk' element 17 is NaN");
  }

  @Test
  void rejectsInfiniteWeights() {
    rejects(SafeTensorsFixture.withFloat(SMALL, "towers.1.2.bias", 0, Float.POSITIVE_INFINITY))
        .hasMessageContaining("'towers.1.2.bias' element 0 is Infinity");
    rejects(SafeTensorsFixture.withFloat(SMALL, "dense.weight", 47, Float.NEGATIVE_INFINITY))
        .hasMessageContaining("'dense.weight' element 47 is -Infinity");
  }

  @Test
  void rejectsStructuralDamageAsModelFileException() {
    rejects(SafeTensorsFixture.withHeaderLength(SMALL, SMALL.length)).hasMessageContaining("beyond the end of the file");
    ObjectNode h = SafeTensorsFixture.header(SMALL);
    ((ArrayNode) h.get("task_tokens").get("data_offsets")).set(1, 999_999);
    rejects(SafeTensorsFixture.file(h, SafeTensorsFixture.data(SMALL))).hasMessageContaining("'task_tokens'");
  }

  @Test
  void rejectsEveryTruncation() {
    for (String name : List.of(Golden.SMALL, Golden.UNPRUNED)) {
      byte[] full = Golden.weights(name);
      for (int n = 0; n < full.length; n++) {
        byte[] cut = java.util.Arrays.copyOf(full, n);
        int len = n;
        assertThatThrownBy(() -> ModelFile.load(cut)).as("%s cut to %d bytes", name, len)
            .isInstanceOf(ModelFileException.class);
      }
    }
  }
}
