package io.hiformer.ops;

import io.hiformer.model.ModelFileException;
import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Option;

/**
 * What the {@code models} subcommands share: the {@code --registry} and {@code --help} options,
 * lookups that fail with messages naming what does exist, and exit code 2 with "error: ..." for
 * anything not found or invalid.
 */
abstract class RegistryCommand implements Callable<Integer> {

  // Not mixinStandardHelpOptions: its -V/--version would clash with "--version V".
  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Option(names = "--registry", required = true, paramLabel = "DIR", description = "registry root directory")
  Path registry;

  abstract int run(ModelRegistry registry, PrintStream out) throws IOException;

  @Override
  public final Integer call() {
    try {
      if (!Files.isDirectory(registry)) {
        throw new NoSuchElementException("no registry directory at " + registry);
      }
      return run(ModelRegistry.open(registry), System.out);
    } catch (IllegalArgumentException | IllegalStateException | NoSuchElementException | ModelFileException
        | IOException e) {
      System.err.println("error: " + UserErrors.message(e));
      return 2;
    }
  }

  /** The model's visible versions, never empty. */
  static List<ModelRegistry.Version> requireModel(ModelRegistry r, String model) throws IOException {
    List<ModelRegistry.Version> versions = r.versions(model);
    if (versions.isEmpty()) {
      List<String> models = r.models();
      throw new NoSuchElementException("no model '" + model + "' in registry " + r.root()
          + (models.isEmpty() ? " (it has none)" : "; models: " + String.join(", ", models)));
    }
    return versions;
  }

  /** {@code ref} ("latest", an alias or a number) resolved to a visible version of the model. */
  static ModelRegistry.Version resolve(ModelRegistry r, String model, String ref) throws IOException {
    List<ModelRegistry.Version> versions = requireModel(r, model);
    Optional<ModelRegistry.Version> found = r.resolve(model, ref);
    if (found.isEmpty()) {
      throw new NoSuchElementException("model '" + model + "' has no version or alias '" + ref + "'; versions: "
          + versions.stream().map(ModelRegistry.Version::number).toList() + ", aliases: " + r.aliases(model));
    }
    return found.get();
  }
}
