package io.hiformer.features;

import io.hiformer.model.Batch;
import io.hiformer.model.LogitScorer;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import java.io.IOException;
import java.time.Instant;
import java.util.NoSuchElementException;
import java.util.Objects;

/**
 * One model version as everything that uses one needs it: its parameters and the feature
 * transforms stored with them, checked to belong together. Read from a registry by
 * {@link #load}, which makes the checks a ranker makes before serving a version: the file fits in
 * the free heap (from its header, before it is read), its SHA-256 is the one recorded, it is a
 * valid model file, it carries transforms under {@link Transforms#METADATA_KEY}, and they produce
 * exactly the model's fields. {@link #requireFiniteScores} is the last check, a scoring pass;
 * whoever scores (the ranker, {@code models promote}) runs it with its own scorer.
 *
 * <p>The one place these checks live: the ranker, the trainer's base model, offline evaluation,
 * {@code models promote} and the demo all read versions through it. Immutable.
 */
public final class VerifiedModel {
  private final String name;
  private final long version;
  private final String sha256;
  private final Instant created;
  private final Parameters parameters;
  private final Transforms transforms;
  private final String transformsJson;

  /**
   * A model built in memory (not read from a registry: no publication time); throws
   * IllegalArgumentException when {@code transforms} do not produce the model's fields.
   */
  public VerifiedModel(String name, long version, String sha256, Parameters parameters, Transforms transforms) {
    this(name, version, sha256, null, parameters, transforms, transforms.toJson());
  }

  private VerifiedModel(String name, long version, String sha256, Instant created, Parameters parameters,
      Transforms transforms, String transformsJson) {
    this.name = Objects.requireNonNull(name, "name");
    this.version = version;
    this.sha256 = Objects.requireNonNull(sha256, "sha256");
    this.created = created;
    this.parameters = Objects.requireNonNull(parameters, "parameters");
    this.transforms = Objects.requireNonNull(transforms, "transforms");
    this.transformsJson = transformsJson;
    if (!transforms.modelFields().equals(parameters.config().fields())) {
      throw new IllegalArgumentException("model " + this + ": the stored transforms do not produce the model's fields");
    }
  }

  /**
   * Reads and checks {@code version} (see the class comment); throws IllegalArgumentException
   * naming what is wrong, IOException when the file cannot be read, or the model file's own
   * exception when it is not a valid model.
   */
  public static VerifiedModel load(ModelRegistry registry, ModelRegistry.Version version) throws IOException {
    HeapCheck.require(version);
    ModelFile.Loaded loaded = registry.verify(version);
    String json = loaded.metadata().get(Transforms.METADATA_KEY);
    if (json == null) {
      throw new IllegalArgumentException("model " + version.model() + " v" + version.number() + " has no '"
          + Transforms.METADATA_KEY + "' metadata; it cannot featurize requests or examples");
    }
    return new VerifiedModel(version.model(), version.number(), version.sha256(), version.created(),
        loaded.parameters(), Transforms.fromJson(json), json);
  }

  /**
   * Resolves {@code versionOrAlias} (a number, an alias or {@code latest}) of {@code model} and
   * {@link #load(ModelRegistry, ModelRegistry.Version) loads} it; NoSuchElementException when it
   * does not resolve.
   */
  public static VerifiedModel load(ModelRegistry registry, String model, String versionOrAlias) throws IOException {
    ModelRegistry.Version v = registry.resolve(model, versionOrAlias).orElseThrow(() -> new NoSuchElementException(
        "model '" + model + "' in " + registry.root() + " has no version or alias '" + versionOrAlias + "'"));
    return load(registry, v);
  }

  /**
   * Scores {@code rows} rows of missing values {@code passes} times with {@code scorer} (which
   * scores this model) and throws IllegalArgumentException when a logit is not finite: weights that
   * make no usable score for a row with nothing known. More than one pass is for callers that also
   * want the forward pass compiled before traffic comes.
   */
  public void requireFiniteScores(LogitScorer scorer, int rows, int passes) {
    ModelConfig c = parameters.config();
    Batch batch = new Batch(c, rows);
    int[] categorical = new int[c.categoricalFields().size()];
    int[][] bags = new int[c.bagFields().size()][0];
    float[] dense = new float[c.denseFields().size()];
    for (int i = 0; i < rows; i++) {
      batch.add(categorical, bags, dense, null, null);
    }
    float[] logits = new float[rows * c.numTasks()];
    for (int pass = 0; pass < passes; pass++) {
      scorer.score(batch, logits);
    }
    for (float x : logits) {
      if (!Float.isFinite(x)) {
        throw new IllegalArgumentException("model " + this + " scores rows of missing values as " + x
            + "; its weights are not usable");
      }
    }
  }

  public String name() {
    return name;
  }

  public long version() {
    return version;
  }

  /** The file's SHA-256 as the registry records it (what an in-memory model was given). */
  public String sha256() {
    return sha256;
  }

  /** When the registry published this version; null for a model built in memory. */
  public Instant created() {
    return created;
  }

  public Parameters parameters() {
    return parameters;
  }

  public ModelConfig config() {
    return parameters.config();
  }

  public Transforms transforms() {
    return transforms;
  }

  /** The transforms exactly as the file stores them (for a model built in memory, {@link Transforms#toJson()}). */
  public String transformsJson() {
    return transformsJson;
  }

  /** {@code v3}: how reports and tables name the version. */
  public String label() {
    return "v" + version;
  }

  /** {@code name v3}. */
  @Override
  public String toString() {
    return name + " v" + version;
  }
}
