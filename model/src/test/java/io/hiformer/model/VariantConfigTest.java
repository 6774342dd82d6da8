package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hiformer.model.ModelConfig.Variant;
import io.hiformer.model.SafeTensors.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The {@code variant} config key: JSON, parameter specs, initialisation and model files. */
class VariantConfigTest {

  private static ModelConfig small(Variant v, boolean prune) {
    return TestModels.randomConfig(new SplittableRandom(7), 2, 2, prune, true, true).withVariant(v);
  }

  @Test
  void hiformerIsTheDefaultAndLeavesTheJsonAsItWas() {
    ModelConfig golden = ModelConfig.fromJson(Golden.configJson(Golden.SMALL));
    assertThat(golden.variant()).isEqualTo(Variant.HIFORMER);
    assertThat(golden.toJson()).doesNotContain("variant");
    ModelConfig legacy = new ModelConfig("x", 8, 2, 1, List.of("click"), 2, 2, 2, List.of(), 0, true,
        List.of(new ModelConfig.Field("a", ModelConfig.FieldKind.CATEGORICAL, ModelConfig.Side.USER, 3)));
    assertThat(legacy.variant()).isEqualTo(Variant.HIFORMER);
    assertThat(legacy.withVariant(Variant.HIFORMER)).isEqualTo(legacy);
    assertThat(ModelConfig.fromJson(legacy.toJson().replace("{", "{\"variant\":\"hiformer\","))).isEqualTo(legacy);
  }

  @ParameterizedTest
  @EnumSource(Variant.class)
  void jsonRoundTrips(Variant v) {
    ModelConfig c = small(v, true);
    assertThat(ModelConfig.fromJson(c.toJson())).isEqualTo(c);
    assertThat(c.toJson().contains("\"variant\":\"" + v.json() + "\"")).isEqualTo(v != Variant.HIFORMER);
  }

  @Test
  void unknownOrMistypedVariantIsRejectedByName() {
    String json = small(Variant.HIFORMER, true).toJson();
    assertThatThrownBy(() -> ModelConfig.fromJson(json.replace("{", "{\"variant\":\"sparse\",")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown variant 'sparse'");
    assertThatThrownBy(() -> ModelConfig.fromJson(json.replace("{", "{\"variant\":\"Hetero\",")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown variant 'Hetero'");
    assertThatThrownBy(() -> ModelConfig.fromJson(json.replace("{", "{\"variant\":3,")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("variant must be a string");
    assertThatThrownBy(() -> Variant.fromJson("transformer"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'transformer'");
    assertThatThrownBy(() -> small(Variant.HIFORMER, true).withVariant(null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("variant");
  }

  @Test
  void specsListExactlyTheVariantsTensors() {
    for (boolean prune : new boolean[] {true, false}) {
      ModelConfig h = small(Variant.HETERO, prune);
      int l = h.numTokens();
      int d = h.tokenDim();
      int f = h.ffnDim();
      int lastRows = prune ? h.numTasks() : l;
      Map<String, int[]> hetero = shapes(h);
      assertThat(hetero).doesNotContainKeys("layers.0.attn.uk", "layers.0.attn.vk", "layers.0.attn.uv",
          "layers.0.attn.vv", "layers.1.attn.uk");
      assertThat(hetero.get("layers.1.attn.wk")).containsExactly(l, d, d);   // all L rows, even pruned
      assertThat(hetero.get("layers.1.attn.wv")).containsExactly(l, d, d);
      assertThat(hetero.get("layers.0.attn.wq")).containsExactly(l, d, d);
      assertThat(hetero.get("layers.1.attn.wq")).containsExactly(lastRows, d, d);
      assertThat(hetero.get("layers.1.ffn.b1")).containsExactly(lastRows, f);

      Map<String, int[]> vanilla = shapes(small(Variant.VANILLA, prune));
      for (int layer = 0; layer < 2; layer++) {
        String p = "layers." + layer + ".";
        assertThat(vanilla).doesNotContainKeys(p + "attn.uk", p + "attn.vk", p + "attn.uv", p + "attn.vv");
        for (String w : List.of("attn.wq", "attn.wk", "attn.wv", "attn.wo")) {
          assertThat(vanilla.get(p + w)).as(p + w).containsExactly(d, d);
        }
        assertThat(vanilla.get(p + "ffn.w1")).containsExactly(d, f);
        assertThat(vanilla.get(p + "ffn.b1")).containsExactly(f);
        assertThat(vanilla.get(p + "ffn.w2")).containsExactly(f, d);
        assertThat(vanilla.get(p + "ffn.b2")).containsExactly(d);
      }
      Map<String, int[]> hiformer = shapes(small(Variant.HIFORMER, prune));
      // all else is the same tensors in the same order
      List<String> common = hiformer.keySet().stream()
          .filter(n -> !n.matches("layers\\.\\d+\\.attn\\.(uk|vk|uv|vv)")).toList();
      assertThat(hetero.keySet().stream().filter(n -> !n.matches("layers\\.\\d+\\.attn\\.(wk|wv)")).toList())
          .isEqualTo(common);
      assertThat(vanilla.keySet()).containsExactlyElementsOf(hetero.keySet());
      for (Variant v : Variant.values()) {
        ModelConfig c = small(v, prune);
        assertThat(ModelFile.tensorCount(c)).isEqualTo(Parameters.specs(c).size());
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = Variant.class, names = {"HETERO", "VANILLA"})
  void initializeIsGlorotForTheNewMatrices(Variant v) {
    ModelConfig c = small(v, true);
    Parameters p = Parameters.initialize(c, 3);
    int d = c.tokenDim();
    for (String name : List.of("layers.0.attn.wk", "layers.1.attn.wv", "layers.1.attn.wq")) {
      float[] x = p.get(name);
      double limit = Math.sqrt(6.0 / (d + d));
      float max = 0;
      for (float e : x) {
        max = Math.max(max, Math.abs(e));
      }
      assertThat((double) max).as(name).isLessThanOrEqualTo(limit).isGreaterThan(limit / 4);
    }
    assertThat(Parameters.initialize(c, 3).get("layers.0.attn.wk")).isEqualTo(p.get("layers.0.attn.wk"));
    assertThat(p.get("layers.0.ln1.weight")).containsOnly(1f);
  }

  @ParameterizedTest
  @EnumSource(value = Variant.class, names = {"HETERO", "VANILLA"})
  void modelFileRoundTrips(Variant v, @TempDir Path dir) throws IOException {
    for (boolean prune : new boolean[] {true, false}) {
      ModelConfig c = small(v, prune);
      Parameters p = Parameters.initialize(c, 11);
      Path path = dir.resolve(v.json() + prune + ".safetensors");
      ModelFile.write(path, p, Map.of("lineage", "test"));
      ModelFile.Loaded back = ModelFile.load(path);
      assertThat(back.parameters().config()).isEqualTo(c);
      assertThat(back.parameters().config().variant()).isEqualTo(v);
      assertThat(back.metadata()).containsExactlyEntriesOf(Map.of("lineage", "test"));
      assertThat(back.parameters().tensors()).extracting(Parameters.Tensor::name)
          .containsExactlyElementsOf(p.tensors().stream().map(Parameters.Tensor::name).toList());
      for (Parameters.Tensor t : p.tensors()) {
        assertThat(back.parameters().tensor(t.name()).shape()).isEqualTo(t.shape());
        assertThat(back.parameters().get(t.name())).as(t.name()).isEqualTo(t.data());
      }
      assertThat(SafeTensors.read(path).metadata().get("config")).contains("\"variant\":\"" + v.json() + "\"");
    }
  }

  @Test
  void fileWhoseConfigSaysHeteroButHoldsHiformerTensorsIsRejected() {
    byte[] golden = Golden.weights(Golden.SMALL);
    SafeTensors f = SafeTensors.parse(golden);
    Map<String, String> metadata = new LinkedHashMap<>(f.metadata());
    metadata.put("config", ModelConfig.fromJson(metadata.get("config")).withVariant(Variant.HETERO).toJson());
    byte[] relabelled = new SafeTensors(metadata, new ArrayList<>(f.tensors())).toBytes();
    assertThatThrownBy(() -> ModelFile.load(relabelled)).isInstanceOf(ModelFileException.class)
        .hasMessageContaining("missing tensor 'layers.0.attn.wk'");

    // and the other way round: a hetero file relabelled hiformer lacks the composite projections
    ModelConfig hetero = ModelConfig.fromJson(f.metadata().get("config")).withVariant(Variant.HETERO);
    SafeTensors encoded = ModelFile.encode(Parameters.initialize(hetero, 1), Map.of());
    Map<String, String> m2 = new LinkedHashMap<>(encoded.metadata());
    m2.put("config", hetero.withVariant(Variant.HIFORMER).toJson());
    List<Tensor> tensors = new ArrayList<>(encoded.tensors());
    assertThatThrownBy(() -> ModelFile.load(new SafeTensors(m2, tensors).toBytes()))
        .isInstanceOf(ModelFileException.class).hasMessageContaining("missing tensor 'layers.0.attn.uk'");
    // hetero tensors under a vanilla config: wq has the wrong shape
    m2.put("config", hetero.withVariant(Variant.VANILLA).toJson());
    assertThatThrownBy(() -> ModelFile.load(new SafeTensors(m2, tensors).toBytes()))
        .isInstanceOf(ModelFileException.class).hasMessageContaining("'layers.0.attn.wq' has shape");
  }

  private static Map<String, int[]> shapes(ModelConfig c) {
    Map<String, int[]> m = new LinkedHashMap<>();
    for (Parameters.Spec s : Parameters.specs(c)) {
      m.put(s.name(), s.shape());
    }
    return m;
  }
}
