package io.hiformer.ranker;

import java.util.Objects;

/** One served arm: its name, its model and how it combines task probabilities. */
record ServedArm(String name, LoadedModel model, ProbabilityCombiner formula) {
  ServedArm {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(formula, "formula");
  }
}
