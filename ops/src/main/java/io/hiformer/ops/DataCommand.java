package io.hiformer.ops;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code hiformer data}: data sets for training and benchmarks. */
@Command(name = "data", mixinStandardHelpOptions = true,
    description = "Makes data sets for training, evaluation and benchmarks.",
    subcommands = {DataSyntheticCommand.class})
final class DataCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
