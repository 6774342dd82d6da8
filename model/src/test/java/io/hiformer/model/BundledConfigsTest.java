package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The configs shipped in the model jar, and {@code --config FILE|NAME} resolution. */
class BundledConfigsTest {
  @TempDir
  Path dir;

  @Test
  void refServingParsesAsTheReferenceModelConfig() {
    ModelConfig c = BundledConfigs.get(BundledConfigs.REF_SERVING);
    assertThat(c.name()).isEqualTo("ref-serving");
    assertThat(c.tokenDim()).isEqualTo(32);
    assertThat(c.heads()).isEqualTo(4);
    assertThat(c.layers()).isEqualTo(3);
    assertThat(c.tasks()).containsExactly("click", "install");
    assertThat(List.of(c.rankK(), c.rankV(), c.ffnMult(), c.denseTokens())).containsExactly(64, 128, 4, 4);
    assertThat(c.towerHidden()).containsExactly(64, 32);
    assertThat(c.pruneLastLayer()).isTrue();
    assertThat(c.variant()).isEqualTo(ModelConfig.Variant.HIFORMER);
    assertThat(c.categoricalFields()).hasSize(24);
    assertThat(c.bagFields()).isEmpty();
    assertThat(c.denseFields()).hasSize(8);
    assertThat(c.numTokens()).isEqualTo(24 + 4 + 2);
    // the 21.5 M parameters the ranker README's figures are measured with
    long count = Parameters.specs(c).stream().mapToLong(Parameters.Spec::size).sum();
    assertThat(count).isBetween(21_450_000L, 21_550_000L);
  }

  @Test
  void aFileIsReadAndABundledNameResolves() throws Exception {
    ModelConfig ref = BundledConfigs.get(BundledConfigs.REF_SERVING);
    Path file = dir.resolve("small.json");
    ModelConfig small = ModelConfig.fromJson(Golden.configJson(Golden.SMALL));
    Files.writeString(file, small.toJson());
    assertThat(BundledConfigs.fileOrBundled(file)).isEqualTo(small);
    assertThat(BundledConfigs.fileOrBundled(Path.of(BundledConfigs.REF_SERVING))).isEqualTo(ref);
    assertThat(BundledConfigs.names()).containsExactly(BundledConfigs.REF_SERVING);
  }

  @Test
  void anUnknownNameFailsNamingTheBundledOnes() {
    assertThatThrownBy(() -> BundledConfigs.fileOrBundled(dir.resolve("missing.json")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("missing.json")
        .hasMessageContaining("bundled: ref-serving");
    assertThatThrownBy(() -> BundledConfigs.get("ref-servin"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("no bundled model config 'ref-servin' (bundled: ref-serving)");
  }
}
