package io.hiformer.ops;

import io.hiformer.features.VerifiedModel;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Hiformer;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.ModelRegistry.Version;
import io.hiformer.model.CpuScorer;
import java.io.IOException;
import java.io.PrintStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hiformer models promote}: points an alias at a version, after verifying it. */
@Command(name = "promote",
    description = {"Points an alias (default: production) at a version, after checking it as a ranker does before"
        + " serving it (hash, model file, stored transforms, a scoring pass); rankers following the alias pick it up."
        + " Undo with 'models rollback'.",
        "With --bootstrap-servers, announces the version and its aliases on the models topic.",
        "Exits 2 if the model or version does not exist, the version cannot be served, or the announcement fails."})
final class ModelsPromoteCommand extends RegistryCommand {

  @Option(names = "--model", required = true, paramLabel = "NAME", description = "model name")
  String model;

  @Option(names = "--version", required = true, paramLabel = "V|ALIAS",
      description = "version number, another alias (e.g. candidate) or 'latest'")
  String version;

  @Option(names = "--alias", defaultValue = "production", paramLabel = "ALIAS",
      description = "alias to move (default: ${DEFAULT-VALUE})")
  String alias;

  @Mixin
  AnnounceOptions announce = new AnnounceOptions();

  @Override
  int run(ModelRegistry r, PrintStream out) throws IOException {
    Version v = resolve(r, model, version);
    // The checks a ranker makes before serving (one scoring pass on the CPU): a version promoted here is one a
    // ranker serves.
    VerifiedModel checked = VerifiedModel.load(r, v);
    try (CpuScorer scorer = new CpuScorer(new Hiformer(checked.parameters(), CpuKernels.best()), 1)) {
      checked.requireFiniteScores(scorer, CpuScorer.DEFAULT_TILE, 1);
    }
    Long before = r.aliases(model).get(alias);
    r.setAlias(model, alias, v.number());
    out.printf("%s/%s: %s -> %d%n", model, alias, before == null ? "(unset)" : before, v.number());
    announce.announce(r, v, out);
    return 0;
  }
}
