package io.hiformer.ops;

import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.ModelRegistry.Version;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hiformer models show}: one version in full, after verifying it as a server would. */
@Command(name = "show",
    description = {"Prints a version's number, SHA-256, creation time, size and aliases, verifies the file"
        + " (hash and model validation, as a ranker does before serving it), then prints its config, metadata"
        + " and lineage.", "Exits 2 if the model, version or alias does not exist or the file fails verification."})
final class ModelsShowCommand extends RegistryCommand {

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name")
  String model;

  @Option(names = "--version", defaultValue = ModelRegistry.LATEST, paramLabel = "V|ALIAS",
      description = "version number, alias or 'latest' (default: ${DEFAULT-VALUE})")
  String version;

  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    Version v = resolve(r, model, version);
    List<String> aliases = r.aliases(model).entrySet().stream().filter(e -> e.getValue() == v.number())
        .map(Map.Entry::getKey).toList();
    out.printf("model      %s%n", v.model());
    out.printf("version    %d%n", v.number());
    out.printf("aliases    %s%n", aliases.isEmpty() ? "-" : String.join(", ", aliases));
    out.printf("sha256     %s%n", v.sha256());
    out.printf("created    %s%n", v.created());
    out.printf("size       %d bytes%n", Files.size(v.file()));
    out.printf("file       %s%n", v.file());
    ModelFile.Loaded loaded = r.verify(v);
    out.println("verified   SHA-256 matches and the model file is valid");
    ModelConfig c = loaded.parameters().config();
    out.printf("config     %s: token_dim %d, heads %d, layers %d, tasks %s, rank_k %d, rank_v %d, %d fields,"
            + " %d tokens, %d parameters%n", c.name().isEmpty() ? "(unnamed)" : c.name(), c.tokenDim(), c.heads(),
        c.layers(), c.tasks(), c.rankK(), c.rankV(), c.fields().size(), c.numTokens(), loaded.parameters().count());
    loaded.metadata().forEach((k, val) -> out.printf("metadata   %s = %s%n", k, val));
    out.println("lineage");
    out.println(v.lineageJson().strip());
    return 0;
  }
}
