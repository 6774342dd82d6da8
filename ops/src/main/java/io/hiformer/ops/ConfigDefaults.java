package io.hiformer.ops;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
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

  ConfigDefaults(Map<String, String> env, JsonNode file) {
    this.env = env;
    this.file = file;
  }

  /** Defaults from the process environment and the file it or the arguments name, if any. */
  static ConfigDefaults fromEnvironment(Map<String, String> env, Path configFile) {
    Path path = configFile;
    if (path == null && env.get("HIFORMER_CONFIG") != null && !env.get("HIFORMER_CONFIG").isBlank()) {
      path = Path.of(env.get("HIFORMER_CONFIG"));
    }
    return new ConfigDefaults(env, path == null ? null : read(path));
  }

  static JsonNode read(Path path) {
    try {
      JsonNode node = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(path));
      if (node != null && !node.isMissingNode() && !node.isNull() && !node.isObject()) {
        throw new IllegalArgumentException("configuration file " + path + " must hold a mapping of option names");
      }
      return node;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read configuration file " + path + ": " + e.getMessage(), e);
    }
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
