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

  @Test
  void theLaunchOffersNewItemsAndReversesHalfTheSegmentsPreferences() {
    DemoWorld launching = new DemoWorld(7, 2000, 500, 40);
    // The first catalogue is the same world's: the launched items come after it.
    assertThat(launching.itemFeatures(17)).isEqualTo(world.itemFeatures(17));
    SplittableRandom rnd = new SplittableRandom(5);
    assertThat(java.util.stream.IntStream.range(0, 2000).map(n -> launching.candidate(rnd)).max().orElseThrow())
        .isLessThan(500);
    Map<String, String> day = Map.of("hour", "12", "device", "desktop");
    int early = -1;
    int late = -1;
    for (int u = 0; u < 2000 && (early < 0 || late < 0); u++) {
      int s = Integer.parseInt(launching.userFeatures(u).get("user_segment").substring(1));
      if (s < DemoWorld.SEGMENTS / 2 && early < 0) {
        early = u;
      } else if (s >= DemoWorld.SEGMENTS / 2 && late < 0) {
        late = u;
      }
    }
    double before = launching.clickLogit(early, 3, day);
    double kept = launching.clickLogit(late, 3, day);
    launching.launch();
    assertThat(launching.catalogue()).isEqualTo(540);
    long launched = java.util.stream.IntStream.range(0, 2000).map(n -> launching.candidate(rnd))
        .filter(i -> i >= 500).count();
    assertThat(launched).isBetween(450L, 750L); // 30%
    assertThat(launching.row(1, 520, day)).containsEntry("item_id", "i520");
    // The segment x category term flips sign for the first half of the segments only.
    assertThat(launching.clickLogit(late, 3, day)).isEqualTo(kept);
    assertThat(launching.clickLogit(early, 3, day)).isNotEqualTo(before);
    FeatureSchema open = FeatureSchema.parse(DemoWorld.schemaYaml(1000));
    assertThat(DemoWorld.schemaYaml(1000)).contains("open: true", "max_vocabulary: 1000");
    assertThat(open.fields()).hasSize(FeatureSchema.parse(DemoWorld.schemaYaml()).fields().size());
  }
}
