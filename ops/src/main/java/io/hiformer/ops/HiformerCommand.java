package io.hiformer.ops;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code hiformer} command line: one subcommand per job. */
@Command(
    name = "hiformer",
    mixinStandardHelpOptions = true,
    versionProvider = Version.class,
    description = "Hiformer ranking service: train, verify and serve Hiformer models.",
    subcommands = {QuickstartCommand.class, TrainCommand.class, VerifyCommand.class, ModelsCommand.class, ServeCommand.class,
        LoadtestCommand.class, EvaluateCommand.class,
        CommandLine.HelpCommand.class})
public final class HiformerCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  static CommandLine commandLine() {
    return new CommandLine(new HiformerCommand()).setCaseInsensitiveEnumValuesAllowed(true);
  }
}
