package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The container image's Java runtime: jlink with {@code ops/deploy/container/jlink-modules} must
 * hold every module the runtime class path needs (jdeps says which), and the command must run on it.
 */
class PackagingTest {
  private static final Path DEPLOY = Path.of("deploy");
  private static final Path GOLDEN = Path.of("../model/src/test/resources/golden");

  @TempDir
  Path dir;

  @Test
  void jlinkModulesCoverWhatJdepsFindsAndTheCommandRunsOnTheRuntime() throws Exception {
    Set<String> listed = modules(Files.readString(DEPLOY.resolve("container/jlink-modules")));
    List<String> classPath = runtimeClassPath();

    List<String> jdeps = new ArrayList<>(List.of(tool("jdeps"), "--multi-release", "25", "--ignore-missing-deps",
        "--print-module-deps"));
    jdeps.addAll(withoutModuleDescriptors(classPath));
    Set<String> needed = modules(lastLine(run(jdeps, 120)));
    assertThat(listed).as("jlink-modules must hold every module jdeps finds").containsAll(needed);

    Path runtime = dir.resolve("runtime");
    run(List.of(tool("jlink"), "--add-modules", String.join(",", listed), "--strip-debug", "--no-header-files",
        "--no-man-pages", "--output", runtime.toString()), 120);
    String out = run(List.of(runtime.resolve("bin/java").toString(), "--add-modules", "jdk.incubator.vector",
        "-cp", String.join(File.pathSeparator, classPath), "io.hiformer.ops.HiformerCommand", "verify",
        GOLDEN.resolve("golden-small.weights.safetensors").toString(),
        GOLDEN.resolve("golden-small.expected.safetensors").toString()), 120);
    assertThat(out).contains("logits");
  }

  @Test
  void theImageRunsAsANonRootUserAndExposesTheServedPorts() throws IOException {
    List<String> lines = Files.readAllLines(DEPLOY.resolve("container/Containerfile"));
    int lastFrom = 0;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith("FROM ")) {
        lastFrom = i;
      }
    }
    List<String> finalStage = lines.subList(lastFrom, lines.size());
    String user = finalStage.stream().filter(l -> l.startsWith("USER ")).reduce((a, b) -> b).orElseThrow();
    assertThat(user.substring(5).split(":")[0]).isNotIn("0", "root");
    assertThat(finalStage).contains("EXPOSE 50051 9090", "ENTRYPOINT [\"/opt/hiformer/bin/hiformer\"]");
    assertThat(finalStage.stream().filter(l -> l.startsWith("COPY --from=runtime"))).isNotEmpty();
  }

  /**
   * The class path with modular jars unpacked without their module-info: jdeps refuses a modular
   * jar whose descriptor requires a module absent here (commons-validator names optional ones),
   * while the classes themselves are what the runtime needs modules for.
   */
  private List<String> withoutModuleDescriptors(List<String> classPath) throws IOException {
    List<String> out = new ArrayList<>();
    Path unpacked = Files.createDirectories(dir.resolve("unpacked"));
    for (String entry : classPath) {
      if (!entry.endsWith(".jar")) {
        out.add(entry);
        continue;
      }
      try (java.util.jar.JarFile jar = new java.util.jar.JarFile(entry)) {
        if (jar.stream().noneMatch(e -> e.getName().endsWith("module-info.class"))) {
          out.add(entry);
          continue;
        }
        var entries = jar.entries();
        while (entries.hasMoreElements()) {
          var e = entries.nextElement();
          String name = e.getName();
          if (e.isDirectory() || !name.endsWith(".class") || name.endsWith("module-info.class")
              || name.startsWith("META-INF/")) {
            continue;
          }
          Path target = unpacked.resolve(name);
          Files.createDirectories(target.getParent());
          try (var in = jar.getInputStream(e)) {
            Files.copy(in, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
    }
    out.add(unpacked.toString());
    return out;
  }

  private static List<String> runtimeClassPath() throws IOException {
    List<String> entries = new ArrayList<>();
    entries.add(Path.of("target/classes").toAbsolutePath().toString());
    String listed = Files.readString(Path.of("target/runtime-classpath.txt")).strip();
    entries.addAll(Arrays.asList(listed.split(File.pathSeparator)));
    return entries;
  }

  private static Set<String> modules(String commaSeparated) {
    return Arrays.stream(commaSeparated.strip().split(",")).map(String::strip).filter(s -> !s.isEmpty())
        .collect(Collectors.toCollection(TreeSet::new));
  }

  private static String lastLine(String text) {
    String[] lines = text.strip().split("\n");
    return lines[lines.length - 1];
  }

  private static String tool(String name) {
    return Path.of(System.getProperty("java.home"), "bin", name).toString();
  }

  private String run(List<String> command, int seconds) throws Exception {
    Path log = Files.createTempFile(dir, "out", ".txt");
    Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError(command.get(0) + " did not finish in " + seconds + " s");
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(process.exitValue()).as("%s exited; output:%n%s", command.get(0), out).isZero();
    return out;
  }
}
