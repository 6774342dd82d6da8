package io.hiformer.ops;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code hiformer models}: inspect a model registry and move its aliases. */
@Command(name = "models", mixinStandardHelpOptions = true,
    description = "Lists, shows, promotes and rolls back versions in a model registry directory.",
    subcommands = {ModelsListCommand.class, ModelsShowCommand.class, ModelsPromoteCommand.class,
        ModelsRollbackCommand.class, ModelsSyntheticCommand.class})
final class ModelsCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
