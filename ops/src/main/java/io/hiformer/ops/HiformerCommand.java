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
        LoadtestCommand.class, EvaluateCommand.class, JoinerCommand.class, FeaturesCommand.class, DataCommand.class,
        CommandLine.HelpCommand.class})
public final class HiformerCommand implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  // Read before parsing (see main): options of every command take their defaults from this file.
  @CommandLine.Option(names = "--config", paramLabel = "FILE", scope = CommandLine.ScopeType.LOCAL,
      description = "YAML file of option values (see ops/README.md, Configuration); also HIFORMER_CONFIG."
          + " Flags win over HIFORMER_* environment variables, which win over the file.")
  Path config;

  // Read before parsing too (see main): logging is set up before any command runs.
  @CommandLine.Option(names = "--log-format", paramLabel = "text|json", scope = CommandLine.ScopeType.LOCAL,
      description = "log lines as text (default) or one JSON object a line; also HIFORMER_LOG_FORMAT."
          + " Either way one line per event, stack traces included.")
  String logFormat;

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
      formatLogs(leadingOption(args, "--log-format") != null ? leadingOption(args, "--log-format")
          : System.getenv("HIFORMER_LOG_FORMAT"));
      commandLine = commandLine(System.getenv(), configFile(args));
    } catch (RuntimeException e) {
      System.err.println("error: " + e.getMessage());
      System.exit(2);
      return;
    }
    try {
      System.exit(commandLine.execute(args));
    } catch (OutOfMemoryError e) {
      // Not the user's input and no bug to trace: say what to change.
      System.err.println("error: out of memory: the Java heap (at most " + (Runtime.getRuntime().maxMemory() >> 20)
          + " MB) is too small for this run; give it more with HIFORMER_JAVA_OPTS=-Xmx<size> (" + e.getMessage() + ")");
      System.exit(1);
    }
  }

  /**
   * One line per event on the console handler ({@link LogFormatter}, JSON with "json"), and Kafka's
   * repeated warnings (a broker away: one per retry) at most once a minute each. Left alone when the
   * operator names a logging.properties file, which then says all of it.
   */
  static void formatLogs(String format) {
    boolean json;
    if (format == null || format.isBlank() || format.equalsIgnoreCase("text")) {
      json = false;
    } else if (format.equalsIgnoreCase("json")) {
      json = true;
    } else {
      throw new IllegalArgumentException("--log-format (HIFORMER_LOG_FORMAT) must be text or json, got " + format);
    }
    if (System.getProperty("java.util.logging.config.file") != null
        || System.getProperty("java.util.logging.config.class") != null) {
      return;
    }
    RepeatedLogFilter repeats = new RepeatedLogFilter(java.time.Duration.ofMinutes(1), System::nanoTime,
        KAFKA_LOGS.getName(), KAFKA_BROKER_LOGS.getName());
    for (java.util.logging.Handler h : java.util.logging.Logger.getLogger("").getHandlers()) {
      h.setFormatter(new LogFormatter(json));
      h.setFilter(repeats);
    }
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
    ConfigDefaults defaults = ConfigDefaults.fromEnvironment(env, configFile);
    CommandLine commandLine = new CommandLine(new HiformerCommand())
        .setCaseInsensitiveEnumValuesAllowed(true)
        .setDefaultValueProvider(defaults)
        .setExecutionExceptionHandler(HiformerCommand::userError);
    defaults.check(commandLine);
    return commandLine;
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
    String file = leadingOption(args, "--config");
    return file == null ? null : Path.of(file);
  }

  /** The value of {@code name} given as {@code NAME VALUE} or {@code NAME=VALUE} before the command name. */
  static String leadingOption(String[] args, String name) {
    for (int i = 0; i < args.length && args[i].startsWith("-"); i++) {
      if (args[i].equals(name) && i + 1 < args.length) {
        return args[i + 1];
      }
      if (args[i].startsWith(name + "=")) {
        return args[i].substring(name.length() + 1);
      }
      if (args[i].equals("--config") || args[i].equals("--log-format")) {
        i++; // skip the value of another leading option
      }
    }
    return null;
  }
}
