package io.hiformer.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import picocli.CommandLine;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Option values that were not given as flags, from the environment, then a configuration file;
 * the option's own default comes last. For option {@code --bootstrap-servers} of {@code serve}:
 * <ol>
 *   <li>the environment variable {@code HIFORMER_SERVE_BOOTSTRAP_SERVERS}, then {@code
 *       HIFORMER_BOOTSTRAP_SERVERS} (every command with that option);
 *   <li>in the YAML file ({@code --config FILE} or {@code HIFORMER_CONFIG}), {@code
 *       serve: {bootstrap-servers: ...}}, then the top-level {@code bootstrap-servers}.
 * </ol>
 * Nested commands nest in the file ({@code models: {promote: {alias: ...}}}) and join with
 * {@code _} in variable names ({@code HIFORMER_MODELS_PROMOTE_ALIAS}).
 */
final class ConfigDefaults implements IDefaultValueProvider {

  private final Map<String, String> env;
  private final JsonNode file;
  private final Path path;

  ConfigDefaults(Map<String, String> env, JsonNode file, Path path) {
    this.env = env;
    this.file = file;
    this.path = path;
  }

  /** Defaults from the process environment and the file it or the arguments name, if any. */
  static ConfigDefaults fromEnvironment(Map<String, String> env, Path configFile) {
    Path path = configFile;
    if (path == null && env.get("HIFORMER_CONFIG") != null && !env.get("HIFORMER_CONFIG").isBlank()) {
      path = Path.of(env.get("HIFORMER_CONFIG"));
    }
    return new ConfigDefaults(env, path == null ? null : read(path), path);
  }

  static JsonNode read(Path path) {
    try {
      JsonNode node = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(path));
      if (node != null && !node.isMissingNode() && !node.isNull() && !node.isObject()) {
        throw new IllegalArgumentException("configuration file " + path + " must hold a mapping of option names");
      }
      return node;
    } catch (IOException e) {
      if (e instanceof com.fasterxml.jackson.core.JsonProcessingException bad) {
        var at = bad.getLocation();
        throw new IllegalArgumentException("configuration file " + path + " is not valid YAML: "
            + bad.getOriginalMessage().lines().findFirst().orElse("")
            + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), e);
      }
      throw new IllegalArgumentException("cannot read configuration file: " + UserErrors.describe(e), e);
    }
  }

  /**
   * Throws IllegalArgumentException naming the first key of the file that no command reads (a
   * typo would otherwise leave the option at its default, silently), with the closest known key.
   * A command's mapping may hold its options and its subcommands; the top level, the root's
   * subcommands and any command's option.
   */
  void check(CommandLine root) {
    if (file == null || !file.isObject()) {
      return;
    }
    Set<String> everyOption = new TreeSet<>();
    collectOptions(root, everyOption);
    check(file, root, "", everyOption, path);
  }

  private static void check(JsonNode node, CommandLine command, String where, Set<String> options, Path path) {
    Set<String> known = new TreeSet<>(options);
    known.addAll(command.getSubcommands().keySet());
    for (Map.Entry<String, JsonNode> e : node.properties()) {
      String key = e.getKey();
      CommandLine sub = command.getSubcommands().get(key);
      if (sub != null && e.getValue().isObject()) {
        check(e.getValue(), sub, where + key + ".", optionsOf(sub), path);
      } else if (sub != null && !options.contains(key)) {
        throw new IllegalArgumentException("configuration file " + path + ": '" + where + key
            + "' must be a mapping of the options of '" + sub.getCommandSpec().qualifiedName(" ") + "'");
      } else if (!options.contains(key)) {
        String closest = closest(key, known);
        throw new IllegalArgumentException("configuration file " + path + ": unknown key '" + where + key + "'"
            + (closest == null ? "" : "; did you mean '" + where + closest + "'?")
            + (where.isEmpty() ? "" : " (known here: " + String.join(", ", known) + ")"));
      }
    }
  }

  private static void collectOptions(CommandLine command, Set<String> into) {
    into.addAll(optionsOf(command));
    command.getSubcommands().values().forEach(sub -> collectOptions(sub, into));
  }

  /** The names a file uses for a command's options: the long name without its dashes. */
  private static Set<String> optionsOf(CommandLine command) {
    Set<String> out = new TreeSet<>();
    for (OptionSpec o : command.getCommandSpec().options()) {
      if (o.longestName().startsWith("--")) {
        out.add(o.longestName().substring(2));
      }
    }
    return out;
  }

  /** The known name within edit distance 2 of {@code key} (the nearest), or null. */
  static String closest(String key, Set<String> known) {
    String best = null;
    int bestDistance = 3;
    for (String k : known) {
      int d = distance(key, k);
      if (d < bestDistance) {
        best = k;
        bestDistance = d;
      }
    }
    return best;
  }

  /** Levenshtein distance. */
  private static int distance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      previous[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        current[j] = Math.min(Math.min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
      }
      int[] t = previous;
      previous = current;
      current = t;
    }
    return previous[b.length()];
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (!(arg instanceof OptionSpec option) || !option.longestName().startsWith("--")) {
      return null;
    }
    String name = option.longestName().substring(2);
    String[] path = commandPath(option);
    String fromEnv = env.get(variable(path, name));
    if (fromEnv == null) {
      fromEnv = env.get(variable(new String[0], name));
    }
    if (fromEnv != null) {
      return fromEnv;
    }
    if (file == null) {
      return null;
    }
    JsonNode scoped = file;
    for (String part : path) {
      scoped = scoped == null ? null : scoped.get(part);
    }
    String value = scalar(scoped == null ? null : scoped.get(name));
    return value != null ? value : scalar(file.get(name));
  }

  private static String[] commandPath(OptionSpec option) {
    String qualified = option.command().qualifiedName(" ");
    int space = qualified.indexOf(' ');
    return space < 0 ? new String[0] : qualified.substring(space + 1).split(" ");
  }

  private static String variable(String[] path, String option) {
    StringBuilder name = new StringBuilder("HIFORMER_");
    for (String part : path) {
      name.append(part).append('_');
    }
    return name.append(option).toString().replace('-', '_').toUpperCase(Locale.ROOT);
  }

  private static String scalar(JsonNode node) {
    if (node == null || node.isNull() || node.isContainerNode()) {
      return null;
    }
    return node.asText();
  }
}
