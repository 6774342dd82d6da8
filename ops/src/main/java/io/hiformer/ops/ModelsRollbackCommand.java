package io.hiformer.ops;

import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.util.NoSuchElementException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hiformer models rollback}: points an alias back at its previous version. */
@Command(name = "rollback",
    description = {"Points an alias (default: production) back at the version it pointed at before its last"
        + " promotion; repeat to go further back (the last 10 targets are kept).",
        "With --bootstrap-servers, announces the version it now points at on the models topic.",
        "Exits 2 if the model or alias does not exist, has no earlier target, or the announcement fails."})
final class ModelsRollbackCommand extends RegistryCommand {

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name")
  String model;

  @Option(names = "--alias", defaultValue = "production", paramLabel = "ALIAS",
      description = "alias to move back (default: ${DEFAULT-VALUE})")
  String alias;

  @Mixin
  AnnounceOptions announce = new AnnounceOptions();

  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    requireModel(r, model);
    Long before = r.aliases(model).get(alias);
    if (before == null) {
      throw new NoSuchElementException("model '" + model + "' has no alias '" + alias + "'; aliases: "
          + r.aliases(model));
    }
    ModelRegistry.Version after = r.rollback(model, alias);
    out.printf("%s/%s: %d -> %d%n", model, alias, before, after.number());
    announce.announce(r, after, out);
    return 0;
  }
}
