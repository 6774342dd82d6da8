package io.hiformer.ops;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.model.BundledConfigs;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.ops.loadtest.SyntheticRequests;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hiformer models synthetic}: publishes untrained models of a given config with feature
 * transforms fitted on synthetic records, for load tests and hot-swap drills without training data.
 */
@Command(name = "synthetic",
    description = {"Publishes COUNT versions of a model with the config of --config (a JSON file, or"
        + " ref-serving, the config bundled in the jar), randomly initialised weights (seed, seed + 1, ...) and"
        + " feature transforms fitted on synthetic records: every categorical field gets a full vocabulary ('user_id'"
        + " u0.., 'item_id' i0.., other fields v0..), dense fields are standardised standard normals.",
        "The values match what 'hiformer loadtest --schema-from-registry' sends. Creates the registry"
            + " directory if needed. Exits 2 on an invalid config."})
final class ModelsSyntheticCommand implements Callable<Integer> {

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Option(names = "--registry", required = true, paramLabel = "DIR", description = "registry root directory")
  Path registry;

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name to publish under")
  String model;

  @Option(names = "--config", required = true, paramLabel = "JSON|NAME",
      description = "model config: a JSON file (docs/model.md, Config), or a bundled one: ref-serving")
  Path config;

  @Option(names = "--count", defaultValue = "1", paramLabel = "N",
      description = "versions to publish (default: ${DEFAULT-VALUE})")
  int count;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "S",
      description = "seed of the first version's weights (default: ${DEFAULT-VALUE})")
  long seed;

  @Override
  public Integer call() {
    try {
      if (count < 1) {
        throw new IllegalArgumentException("--count must be positive, got " + count);
      }
      ModelConfig c = BundledConfigs.fileOrBundled(config);
      Transforms t = transforms(c);
      if (!t.modelFields().equals(c.fields())) {
        throw new IllegalArgumentException("the synthetic transforms do not reproduce the config's fields");
      }
      Files.createDirectories(registry);
      ModelRegistry r = ModelRegistry.open(registry);
      for (int i = 0; i < count; i++) {
        Parameters p = Parameters.initialize(c, seed + i);
        ModelRegistry.Version v = r.publish(model, p, Map.of(Transforms.METADATA_KEY, t.toJson()),
            String.format(Locale.ROOT, "{\"synthetic\": true, \"config\": \"%s\", \"seed\": %d}",
                config.toString().replace("\\", "/").replace("\"", "'"), seed + i));
        System.out.printf("published %s v%d (%d parameters, seed %d)%n", model, v.number(), p.count(), seed + i);
      }
      return 0;
    } catch (IllegalArgumentException | IOException e) {
      System.err.println("error: " + UserErrors.message(e));
      return 2;
    }
  }

  /**
   * Transforms whose fields are exactly {@code c}'s: each categorical field's vocabulary holds
   * {@code vocab - 1} values (id 0 is the missing one), each dense field is standardised.
   */
  static Transforms transforms(ModelConfig c) {
    StringBuilder yaml = new StringBuilder("tasks:\n");
    for (String task : c.tasks()) {
      yaml.append("  - {name: ").append(task).append("}\n");
    }
    yaml.append("fields:\n");
    int records = 1;
    for (ModelConfig.Field f : c.fields()) {
      if (f.kind() == ModelConfig.FieldKind.BAG) {
        throw new IllegalArgumentException("field '" + f.name() + "': bag fields are not supported here");
      }
      yaml.append("  - {name: ").append(f.name()).append(", kind: ").append(f.kind().name().toLowerCase(Locale.ROOT))
          .append(", side: ").append(f.side().name().toLowerCase(Locale.ROOT))
          .append(f.kind() == ModelConfig.FieldKind.DENSE ? ", standardize: true" : "").append("}\n");
      records = Math.max(records, f.vocab() - 1);
    }
    FeatureSchema schema = FeatureSchema.parse(yaml.toString());
    int n = records;
    // Record r holds value r mod (vocab - 1) of every categorical field, so each value appears.
    List<RawRecord> rows = new AbstractList<>() {
      @Override
      public RawRecord get(int r) {
        SplittableRandom random = new SplittableRandom(r);
        Map<String, String> row = new HashMap<>();
        for (ModelConfig.Field f : c.fields()) {
          row.put(f.name(), f.kind() == ModelConfig.FieldKind.DENSE
              ? Double.toString(random.nextGaussian()) : f.vocab() < 2 ? "" : SyntheticRequests.value(f.name(), r % (f.vocab() - 1)));
        }
        for (String task : c.tasks()) {
          row.put(task, random.nextInt(10) == 0 ? "1" : "0");
        }
        return row::get;
      }

      @Override
      public int size() {
        return n;
      }
    };
    return Transforms.fit(schema, rows);
  }
}
