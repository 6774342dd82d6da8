package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.hiformer.features.FeatureSchema;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DemoWorldTest {
  private final DemoWorld world = new DemoWorld(7, 2000, 500);

  @Test
  void theTruthRecoversItsOwnInteractionAndAScorerWithoutItDoesNot() {
    double truth = world.interactionRecovery(
        row -> world.clickLogit(DemoWorld.userIndex(row), DemoWorld.itemIndex(row), row), 1);
    assertThat(truth).isEqualTo(1.0);
    // Everything but the three-way product: user x item and item x context effects only.
    double without = world.interactionRecovery(row -> {
      Map<String, String> night = new java.util.HashMap<>(row);
      night.put("hour", "0");
      return world.clickLogit(DemoWorld.userIndex(row), DemoWorld.itemIndex(row), night);
    }, 1);
    assertThat(without).isLessThan(0.1); // day and night scored alike: no cell gets a sign
  }

  @Test
  void theWorldIsReproducibleAndItsRowsFitTheSchema() {
    DemoWorld again = new DemoWorld(7, 2000, 500);
    assertThat(again.userFeatures(42)).isEqualTo(world.userFeatures(42));
    assertThat(again.itemFeatures(17)).isEqualTo(world.itemFeatures(17));
    FeatureSchema schema = FeatureSchema.parse(DemoWorld.schemaYaml());
    Map<String, String> row = world.row(3, 4, DemoWorld.context(new SplittableRandom(1)));
    for (var field : schema.fields()) {
      assertThat(row).containsKey(field.column());
    }
  }

  @Test
  void clicksAreNeitherRareNorCommon() {
    SplittableRandom rnd = new SplittableRandom(3);
    int clicks = 0;
    for (int n = 0; n < 20_000; n++) {
      int u = rnd.nextInt(world.users());
      int i = rnd.nextInt(world.items());
      clicks += world.click(u, i, DemoWorld.context(rnd), rnd) ? 1 : 0;
    }
    assertThat(clicks / 20_000.0).isBetween(0.1, 0.4);
  }
}
