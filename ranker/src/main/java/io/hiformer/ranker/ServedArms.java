package io.hiformer.ranker;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/** The arms a {@link RankService} serves together and the assigner that splits units across them. Immutable. */
record ServedArms(ArmAssigner assigner, List<ServedArm> arms) {
  ServedArms {
    Objects.requireNonNull(assigner, "assigner");
    arms = List.copyOf(arms);
    if (!arms.stream().map(ServedArm::name).toList().equals(assigner.names())) {
      throw new IllegalArgumentException("the assigner's arms " + assigner.names() + " differ from the served arms");
    }
  }

  /** One arm named {@value RankService#DEFAULT_ARM} with all traffic. */
  static ServedArms single(LoadedModel model, ProbabilityCombiner formula) {
    return new ServedArms(new ArmAssigner("", List.of(RankService.DEFAULT_ARM), new double[] {1}),
        List.of(new ServedArm(RankService.DEFAULT_ARM, model, formula)));
  }

  /** The arm named {@code name}, or null. */
  ServedArm arm(String name) {
    for (ServedArm a : arms) {
      if (a.name().equals(name)) {
        return a;
      }
    }
    return null;
  }

  /** The distinct models the arms serve. */
  Set<LoadedModel> models() {
    Set<LoadedModel> out = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    arms.forEach(a -> out.add(a.model()));
    return out;
  }
}
