package io.hiformer.ranker;

import io.hiformer.features.Featurizer;
import io.hiformer.features.Transforms;
import io.hiformer.model.BatchScorer;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.model.Scorer;
import java.io.IOException;
import java.util.Objects;

/**
 * One servable model version: its parameters, the feature transforms stored with it and a
 * {@link Scorer}. Immutable; shared by all calls that started while it was current.
 *
 * <p>{@link Featurizer} is not thread-safe, so {@link #featurizer()} hands out one per thread.
 * The {@link Scorer} is synchronized and allocation-free; {@link #close()} releases its threads.
 */
public final class LoadedModel implements AutoCloseable {
  private final String name;
  private final long version;
  private final Parameters parameters;
  private final Transforms transforms;
  private final BatchScorer scorer;
  private final ThreadLocal<Featurizer> featurizers;

  public LoadedModel(String name, long version, Parameters parameters, Transforms transforms, int threads) {
    this.name = Objects.requireNonNull(name, "name");
    this.version = version;
    this.parameters = Objects.requireNonNull(parameters, "parameters");
    this.transforms = Objects.requireNonNull(transforms, "transforms");
    if (!transforms.modelFields().equals(parameters.config().fields())) {
      throw new IllegalArgumentException("model " + name + " v" + version
          + ": the stored transforms do not produce the model's fields");
    }
    this.scorer = Scoring.current().open(parameters, threads);
    this.featurizers = ThreadLocal.withInitial(() -> new Featurizer(transforms));
  }

  /**
   * Verifies {@code version} (hash and model validation) and builds it; the transforms come from
   * the model file's metadata under {@link Transforms#METADATA_KEY}.
   */
  public static LoadedModel load(ModelRegistry registry, ModelRegistry.Version version, int threads)
      throws IOException {
    ModelFile.Loaded loaded = registry.verify(version);
    String json = loaded.metadata().get(Transforms.METADATA_KEY);
    if (json == null) {
      throw new IllegalArgumentException("model " + version.model() + " v" + version.number()
          + " has no '" + Transforms.METADATA_KEY + "' metadata; it cannot featurize requests");
    }
    return new LoadedModel(version.model(), version.number(), loaded.parameters(), Transforms.fromJson(json),
        threads);
  }

  public String name() {
    return name;
  }

  public long version() {
    return version;
  }

  public Parameters parameters() {
    return parameters;
  }

  public Transforms transforms() {
    return transforms;
  }

  public BatchScorer scorer() {
    return scorer;
  }

  /** This thread's featurizer for this model. */
  public Featurizer featurizer() {
    return featurizers.get();
  }

  @Override
  public void close() {
    scorer.close();
  }

  @Override
  public String toString() {
    return name + " v" + version;
  }
}
