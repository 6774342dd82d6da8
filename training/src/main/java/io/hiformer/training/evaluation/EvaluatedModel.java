package io.hiformer.training.evaluation;

import io.hiformer.features.Transforms;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.util.NoSuchElementException;

/**
 * A model version to evaluate: its weights and the feature transforms stored with it, as a
 * ranker loads them ({@code ranker.LoadedModel}).
 */
public record EvaluatedModel(String name, long version, String sha256, Parameters parameters, Transforms transforms) {

  public EvaluatedModel {
    if (!transforms.modelFields().equals(parameters.config().fields())) {
      throw new IllegalArgumentException("model " + name + " v" + version
          + ": the stored transforms do not produce the model's fields");
    }
  }

  /**
   * Resolves {@code versionOrAlias} (a number, an alias or {@code latest}), verifies the file
   * against its recorded SHA-256 and loads it.
   */
  public static EvaluatedModel load(ModelRegistry registry, String model, String versionOrAlias) throws IOException {
    ModelRegistry.Version v = registry.resolve(model, versionOrAlias).orElseThrow(() -> new NoSuchElementException(
        "model '" + model + "' in " + registry.root() + " has no version or alias '" + versionOrAlias + "'"));
    ModelFile.Loaded loaded = registry.verify(v);
    String json = loaded.metadata().get(Transforms.METADATA_KEY);
    if (json == null) {
      throw new IllegalArgumentException("model " + model + " v" + v.number() + " has no '" + Transforms.METADATA_KEY
          + "' metadata; it cannot featurize rows");
    }
    return new EvaluatedModel(model, v.number(), v.sha256(), loaded.parameters(), Transforms.fromJson(json));
  }

  /** {@code v3}: how tables name it. */
  public String label() {
    return "v" + version;
  }
}
