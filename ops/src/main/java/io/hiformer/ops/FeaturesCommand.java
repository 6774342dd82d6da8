package io.hiformer.ops;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code hiformer features}: feature data for the online store. */
@Command(name = "features", mixinStandardHelpOptions = true,
    description = "Publishes feature updates to the Kafka topics the rankers' online stores read.",
    subcommands = {FeaturesLoadCommand.class})
final class FeaturesCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
