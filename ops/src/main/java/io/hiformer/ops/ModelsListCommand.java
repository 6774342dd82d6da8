package io.hiformer.ops;

import io.hiformer.model.ModelRegistry;
import io.hiformer.model.ModelRegistry.Version;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hiformer models list}: the registry's models, or one model's versions. */
@Command(name = "list",
    description = {"Without --model: each model with its number of versions, latest version and aliases.",
        "With --model: each visible version with its creation time, size, SHA-256 prefix and aliases."})
final class ModelsListCommand extends RegistryCommand {

  @Option(names = "--model", paramLabel = "NAME", description = "list this model's versions")
  String model;

  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    if (model != null) {
      listVersions(r, out);
      return 0;
    }
    List<String> models = r.models();
    if (models.isEmpty()) {
      out.println("no models in " + r.root());
    }
    for (String m : models) {
      List<Version> versions = r.versions(m);
      out.printf("%-24s versions %-4d latest %-5d aliases %s%n", m, versions.size(), versions.getLast().number(),
          aliasList(r.aliases(m)));
    }
    return 0;
  }

  private void listVersions(ModelRegistry r, PrintStream out) throws IOException {
    List<Version> versions = requireModel(r, model);
    Map<String, Long> aliases = r.aliases(model);
    out.printf("%-8s %-20s %14s  %-12s  %s%n", "VERSION", "CREATED", "BYTES", "SHA256", "ALIASES");
    for (Version v : versions) {
      List<String> names = aliases.entrySet().stream().filter(e -> e.getValue() == v.number())
          .map(Map.Entry::getKey).toList();
      out.printf("%-8d %-20s %14d  %-12s  %s%n", v.number(), v.created().truncatedTo(ChronoUnit.SECONDS),
          Files.size(v.file()), v.sha256().substring(0, 12), String.join(" ", names));
    }
  }

  private static String aliasList(Map<String, Long> aliases) {
    return aliases.isEmpty() ? "-" : String.join(" ",
        aliases.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
  }
}
