package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Parsing and validating experiment files, and splitting units across arms. */
class ExperimentsTest {
  static final String THREE_ARMS = """
      salt: exp-1
      arms:
        - {name: control, model: production, share: 0.5}
        - {name: clicks, model: 2, share: 0.3, score: {weighted_sum: {click: 0.8, like: 0.2}}}
        - {name: prod, model: 2, share: 0.2, score: {product: {click: 1, like: 2}}}
      """;

  @Test
  void parsesArmsSharesAndFormulas() {
    Experiments e = Experiments.parse(THREE_ARMS);
    assertThat(e.salt()).isEqualTo("exp-1");
    assertThat(e.arms()).extracting(Experiments.Arm::name).containsExactly("control", "clicks", "prod");
    assertThat(e.arm("control").model()).isEqualTo("production");
    assertThat(e.arm("control").score()).isEqualTo(Experiments.Score.MEAN);
    assertThat(e.arm("clicks").score().kind()).isEqualTo(Experiments.Score.Kind.WEIGHTED_SUM);
    assertThat(e.arm("clicks").score().weights()).isEqualTo(Map.of("click", 0.8, "like", 0.2));
    assertThat(e.arm("prod").share()).isEqualTo(0.2);

    float[] p = {0.5f, 0.4f};
    List<String> tasks = List.of("click", "like");
    assertThat(e.arm("clicks").score().formula("clicks", tasks).combine(p, 0, 2)).isCloseTo(0.48f,
        org.assertj.core.data.Offset.offset(1e-6f));
    assertThat(e.arm("prod").score().formula("prod", tasks).combine(p, 0, 2)).isCloseTo(0.08f,
        org.assertj.core.data.Offset.offset(1e-6f));
    assertThatThrownBy(() -> Experiments.parse(THREE_ARMS.replace("like: 2", "share_rate: 2")).arm("prod").score()
        .formula("prod", tasks)).hasMessageContaining("arm 'prod'").hasMessageContaining("task 'share_rate'");
  }

  @Test
  void splitsTenThousandUnitsByShareAndStably() {
    Experiments e = Experiments.parse(THREE_ARMS);
    ArmAssigner a = new ArmAssigner(e);
    ArmAssigner b = new ArmAssigner(Experiments.parse(THREE_ARMS));
    int[] counts = new int[3];
    for (int u = 0; u < 10_000; u++) {
      String unit = "unit-" + u;
      int i = a.index(unit);
      counts[i]++;
      assertThat(a.index(unit)).isEqualTo(i);
      assertThat(b.index(unit)).isEqualTo(i);
    }
    double[] shares = {0.5, 0.3, 0.2};
    for (int i = 0; i < 3; i++) {
      assertThat(counts[i] / 10_000.0).as("arm %d", i).isCloseTo(shares[i], org.assertj.core.data.Offset.offset(0.02));
    }
    // Another salt reshuffles units.
    ArmAssigner other = new ArmAssigner(Experiments.parse(THREE_ARMS.replace("exp-1", "exp-2")));
    long moved = java.util.stream.IntStream.range(0, 1000).filter(u -> other.index("unit-" + u) != a.index("unit-" + u)).count();
    assertThat(moved).isGreaterThan(100);
  }

  @Test
  void rejectsInvalidFilesNamingArmAndKey() {
    invalid("salt: [", "not valid YAML");
    invalid("arms: [{name: a, model: production, share: 1}]", "'salt'");
    invalid("salt: s\narms: []", "'arms'");
    invalid("salt: s\narms: [{name: A, model: production, share: 1}]", "arms[0]: 'name' must match");
    invalid("salt: s\narms: [{name: a, share: 1}]", "arm 'a': 'model'");
    invalid("salt: s\narms: [{name: a, model: production}]", "arm 'a': 'share'");
    invalid("salt: s\narms: [{name: a, model: 1, share: 0.5}, {name: b, model: 1, share: 0}]", "arm 'b': 'share'");
    invalid("salt: s\narms: [{name: a, model: 1, share: 0.5}, {name: b, model: 1, share: 0.4}]", "sum to 0.9");
    invalid("salt: s\narms: [{name: a, model: 1, share: 0.5}, {name: a, model: 1, share: 0.5}]", "arm 'a': 'name' is a duplicate");
    invalid("salt: s\narms: [{name: a, model: 1, share: 1, score: median}]", "arm 'a': 'score'");
    invalid("salt: s\narms: [{name: a, model: 1, share: 1, score: {max: {click: 1}}}]", "arm 'a': 'score' has unknown formula 'max'");
    invalid("salt: s\narms: [{name: a, model: 1, share: 1, score: {product: {click: x}}}]", "arm 'a': 'score.product.click'");
    invalid("salt: s\narms: [{name: a, model: 1, share: 1, weight: 2}]", "arm 'a': unknown key 'weight'");
    invalid("salt: s\nsalts: x\narms: [{name: a, model: 1, share: 1}]", "unknown key 'salts'");
  }

  static void invalid(String yaml, String message) {
    assertThatThrownBy(() -> Experiments.parse(yaml)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }
}
