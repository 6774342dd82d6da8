package io.hiformer.ops;

import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code hiformer} command line: one subcommand per job. */
@Command(
    name = "hiformer",
    mixinStandardHelpOptions = true,
    versionProvider = Version.class,
    description = "Hiformer ranking service: train, verify and serve Hiformer models.",
    subcommands = {DemoCommand.class, QuickstartCommand.class, TrainCommand.class, VerifyCommand.class, ModelsCommand.class, ServeCommand.class,
        LoadtestCommand.class, EvaluateCommand.class, JoinerCommand.class, FeaturesCommand.class,
        CommandLine.HelpCommand.class})
public final class HiformerCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  // Read before parsing (see main): options of every command take their defaults from this file.
  @CommandLine.Option(names = "--config", paramLabel = "FILE", scope = CommandLine.ScopeType.LOCAL,
      description = "YAML file of option values (see ops/README.md, Configuration); also HIFORMER_CONFIG."
          + " Flags win over HIFORMER_* environment variables, which win over the file.")
  Path config;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /**
   * Kafka's clients and broker log every connection and config at INFO; their warnings and errors
   * are what an operator needs. Held here because java.util.logging keeps loggers weakly.
   */
  private static final java.util.logging.Logger KAFKA_LOGS = java.util.logging.Logger.getLogger("org.apache.kafka");
  private static final java.util.logging.Logger KAFKA_BROKER_LOGS = java.util.logging.Logger.getLogger("kafka");

  public static void main(String[] args) {
    quiet(KAFKA_LOGS);
    quiet(KAFKA_BROKER_LOGS);
    CommandLine commandLine;
    try {
      commandLine = commandLine(System.getenv(), configFile(args));
    } catch (RuntimeException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(2);
      return;
    }
    System.exit(commandLine.execute(args));
  }

  /** WARNING for {@code logger}, unless a logging.properties file set its level. */
  private static void quiet(java.util.logging.Logger logger) {
    if (java.util.logging.LogManager.getLogManager().getProperty(logger.getName() + ".level") == null) {
      logger.setLevel(java.util.logging.Level.WARNING);
    }
  }

  static CommandLine commandLine() {
    return commandLine(Map.of(), null);
  }

  /** The command line with option defaults from {@code env} and the configuration file. */
  static CommandLine commandLine(Map<String, String> env, Path configFile) {
    return new CommandLine(new HiformerCommand())
        .setCaseInsensitiveEnumValuesAllowed(true)
        .setDefaultValueProvider(ConfigDefaults.fromEnvironment(env, configFile))
        .setExecutionExceptionHandler(HiformerCommand::userError);
  }

  /** A user error that escaped a command: one line and exit 2 (README, exit codes); a bug keeps its trace. */
  private static int userError(Exception e, CommandLine commandLine, CommandLine.ParseResult parsed) throws Exception {
    String message = UserErrors.message(e);
    if (message == null) {
      throw e;
    }
    commandLine.getErr().println("error: " + message);
    return 2;
  }

  /** {@code --config FILE} or {@code --config=FILE} before the command name. */
  static Path configFile(String[] args) {
    for (int i = 0; i < args.length && args[i].startsWith("-"); i++) {
      if (args[i].equals("--config") && i + 1 < args.length) {
        return Path.of(args[i + 1]);
      }
      if (args[i].startsWith("--config=")) {
        return Path.of(args[i].substring("--config=".length()));
      }
    }
    return null;
  }
}
