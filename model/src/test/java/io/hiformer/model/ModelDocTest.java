package io.hiformer.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** docs/model.md, Parameters, names every tensor the code creates, in the order files hold them. */
class ModelDocTest {

  @Test
  void theParametersTableListsEveryTensorInCanonicalOrder() throws Exception {
    String doc = Files.readString(Path.of("..", "docs", "model.md"));
    int start = doc.indexOf("\n## Parameters\n");
    assertThat(start).as("docs/model.md has a Parameters section").isPositive();
    int end = doc.indexOf("\n## ", start + 1);
    String table = doc.substring(start, end < 0 ? doc.length() : end);
    for (ModelConfig.Variant v : ModelConfig.Variant.values()) {
      ModelConfig c = TestModels.randomConfig(new SplittableRandom(3), 2, 2, true, true, true).withVariant(v);
      Set<String> names = new LinkedHashSet<>();   // each generic name once, in the order of its first tensor
      Parameters.specs(c).forEach(s -> names.add("`" + generic(s.name()) + "`"));
      int previous = -1;
      for (String name : names) {
        int at = table.indexOf(name);
        assertThat(at).as("%s (%s) is documented", name, v).isNotNegative();
        assertThat(at).as("%s (%s) comes after the tensor before it", name, v).isGreaterThan(previous);
        previous = at;
      }
    }
  }

  /** {@code layers.1.attn.wq} as the table writes it: {@code layers.<l>.attn.wq}; likewise fields and towers. */
  private static String generic(String name) {
    return name.replaceFirst("^emb\\..*", "emb.<field>")
        .replaceFirst("^layers\\.\\d+\\.", "layers.<l>.")
        .replaceFirst("^towers\\.\\d+\\.\\d+\\.", "towers.<j>.<k>.");
  }
}
