package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/** Flags win over HIFORMER_* variables, which win over the configuration file, which wins over defaults. */
class ConfigDefaultsTest {
  @TempDir
  Path dir;

  @Test
  void precedenceIsFlagThenCommandVariableThenGlobalVariableThenFileThenDefault() throws Exception {
    Path file = dir.resolve("hiformer.yaml");
    Files.writeString(file, """
        registry: /from-file
        serve:
          port: 7001
          metrics-port: 7002
          model: ranker
        models:
          promote:
            alias: candidate
        """);
    ServeCommand serve = parse(Map.of(), file, "serve").subcommand().commandSpec().commandLine().getCommand();
    assertThat(serve.port).isEqualTo(7001);
    assertThat(serve.metricsOptions.port).isEqualTo(7002);
    assertThat(serve.model).isEqualTo("ranker");
    assertThat(serve.maxCandidates).isEqualTo(1000); // the option's own default

    serve = parse(Map.of("HIFORMER_PORT", "8001", "HIFORMER_SERVE_METRICS_PORT", "8002"), file, "serve")
        .subcommand().commandSpec().commandLine().getCommand();
    assertThat(serve.port).isEqualTo(8001);
    assertThat(serve.metricsOptions.port).isEqualTo(8002);

    serve = parse(Map.of("HIFORMER_PORT", "8001"), file, "serve", "--port", "9001")
        .subcommand().commandSpec().commandLine().getCommand();
    assertThat(serve.port).isEqualTo(9001);

    ModelsPromoteCommand promote = parse(Map.of(), file, "models", "promote", "--model", "m", "--version", "2")
        .subcommand().subcommand().commandSpec().commandLine().getCommand();
    assertThat(promote.alias).isEqualTo("candidate");
  }

  @Test
  void aRequiredOptionCanComeFromTheEnvironment() throws Exception {
    Path registry = Files.createDirectories(dir.resolve("registry"));
    VerifyCommandTest.Result result = VerifyCommandTest.run(
        () -> HiformerCommand.commandLine(Map.of("HIFORMER_REGISTRY", registry.toString()), null), "models", "list");
    assertThat(result.exit()).as(result.err()).isZero();
    assertThat(result.out()).contains("no models in " + registry);
  }

  @Test
  void configFileIsFoundBeforeTheCommandName() {
    assertThat(HiformerCommand.configFile(new String[] {"--config", "a.yaml", "serve"})).isEqualTo(Path.of("a.yaml"));
    assertThat(HiformerCommand.configFile(new String[] {"--config=b.yaml", "serve"})).isEqualTo(Path.of("b.yaml"));
    assertThat(HiformerCommand.configFile(new String[] {"serve", "--config", "c.yaml"})).isNull();
  }

  @Test
  void aFileThatIsNotAMappingIsRefusedByName() throws Exception {
    Path file = dir.resolve("list.yaml");
    Files.writeString(file, "- port\n- 1\n");
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), file))
        .hasMessageContaining(file.toString()).hasMessageContaining("mapping");
  }

  @Test
  void anUnknownKeyIsRefusedByNameWithTheClosestKnownOne() throws Exception {
    Path file = dir.resolve("typo.yaml");
    Files.writeString(file, """
        serve:
          model: ranker
          metrics-prot: 9191
        """);
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), file))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(file.toString())
        .hasMessageContaining("unknown key 'serve.metrics-prot'").hasMessageContaining("did you mean 'serve.metrics-port'");

    Files.writeString(file, "registy: /models\n");
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), file))
        .hasMessageContaining("unknown key 'registy'").hasMessageContaining("did you mean 'registry'");
    Files.writeString(file, "models:\n  promot:\n    alias: candidate\n");
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), file))
        .hasMessageContaining("unknown key 'models.promot'").hasMessageContaining("did you mean 'models.promote'");
    Files.writeString(file, "serve: 3\n");
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), file)).hasMessageContaining("'serve' must be a mapping");
    Files.writeString(file, "serve: [unclosed\n");
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), file)).hasMessageContaining("not valid YAML")
        .hasMessageContaining("line ");
    assertThatThrownBy(() -> HiformerCommand.commandLine(Map.of(), dir.resolve("none.yaml")))
        .hasMessageContaining("none.yaml: no such file");
    // Any command's option at the top level, and nested commands' options, are known.
    Files.writeString(file, "bootstrap-servers: k:9092\nmodels:\n  promote:\n    alias: candidate\n");
    HiformerCommand.commandLine(Map.of(), file);
  }

  private static ParseResult parse(Map<String, String> env, Path file, String... args) {
    CommandLine commandLine = HiformerCommand.commandLine(env, file);
    return commandLine.parseArgs(args);
  }
}
