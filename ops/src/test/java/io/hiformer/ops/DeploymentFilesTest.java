package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The deployment files against the real command and a real ranker: every manifest parses, every
 * container's command line parses with its environment and configuration, probes and services
 * name declared ports, and the ranker started with the Deployment's own arguments answers its
 * probes on those ports and exports every metric the alert rules and the dashboard use.
 */
class DeploymentFilesTest {
  static final Path DEPLOY = Path.of("deploy");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Pattern METRIC = Pattern.compile("\\bhiformer_[a-z0-9_]+");

  @TempDir
  Path dir;

  @Test
  void everyContainerCommandLineParsesWithItsEnvironmentAndConfiguration() throws Exception {
    List<JsonNode> docs = manifests();
    assertThat(docs).extracting(d -> d.path("kind").asText())
        .contains("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet", "CronJob");
    int parsed = 0;
    for (JsonNode doc : docs) {
      for (JsonNode container : containers(doc)) {
        Map<String, String> env = env(docs, container);
        for (List<String> args : commandLines(container)) {
          Path config = configFile(docs, args);
          CommandLine commandLine = HiformerCommand.commandLine(env, config);
          commandLine.parseArgs(args.toArray(String[]::new)); // throws naming an unknown or missing option
          parsed++;
        }
      }
    }
    assertThat(parsed).isGreaterThanOrEqualTo(4); // ranker, joiner, train, promote
  }

  @Test
  void probesAndServicesNameDeclaredPorts() throws Exception {
    List<JsonNode> docs = manifests();
    Map<String, Set<String>> portsByApp = new HashMap<>();
    for (JsonNode doc : docs) {
      for (JsonNode container : containers(doc)) {
        Set<String> declared = new TreeSet<>();
        container.path("ports").forEach(p -> {
          declared.add(p.path("name").asText());
          declared.add(p.path("containerPort").asText());
        });
        for (String probe : List.of("readinessProbe", "livenessProbe", "startupProbe")) {
          JsonNode p = container.path(probe);
          if (!p.isMissingNode()) {
            String port = p.has("grpc") ? p.path("grpc").path("port").asText() : p.path("httpGet").path("port").asText();
            assertThat(declared).as("%s of %s", probe, doc.path("metadata").path("name").asText()).contains(port);
          }
        }
        portsByApp.computeIfAbsent(doc.path("metadata").path("name").asText(), k -> new TreeSet<>()).addAll(declared);
      }
    }
    for (JsonNode doc : docs) {
      if (doc.path("kind").asText().equals("Service")) {
        Set<String> declared = portsByApp.getOrDefault(doc.path("metadata").path("name").asText(), Set.of());
        doc.path("spec").path("ports").forEach(p ->
            assertThat(declared).as("service %s", doc.path("metadata").path("name").asText())
                .contains(p.path("targetPort").asText()));
      }
    }
  }

  @Test
  void theRankerStartedFromItsManifestAnswersItsProbesAndExportsEveryMetricTheAlertsAndDashboardUse()
      throws Exception {
    List<JsonNode> docs = manifests();
    JsonNode deployment = docs.stream().filter(d -> d.path("kind").asText().equals("Deployment")
        && d.path("metadata").path("name").asText().equals("hiformer-ranker")).findFirst().orElseThrow();
    JsonNode container = containers(deployment).getFirst();
    List<String> args = commandLines(container).getFirst();
    // Ephemeral ports: the manifest's fixed ones may be taken on this machine.
    args.set(args.indexOf("--port") + 1, "0");
    args.set(args.indexOf("--metrics-port") + 1, "0");

    Path registry = dir.resolve("registry");
    ServeCommandTest.publishTinyModel(registry, "ranker");
    // The ConfigMap's file with the registry moved to this test's directory.
    Path config = configFile(docs, args);
    ObjectNode file = (ObjectNode) YAML.readTree(config.toFile());
    ((ObjectNode) file.path("serve")).put("registry", registry.toString()).put("port", 0).put("metrics-port", 0);
    YAML.writeValue(config.toFile(), file);
    args.set(args.indexOf("--config") + 1, config.toString());

    Set<String> used = new TreeSet<>();
    used.addAll(metricsIn(Files.readString(DEPLOY.resolve("prometheus/alerts.yaml"))));
    used.addAll(metricsIn(Files.readString(DEPLOY.resolve("grafana/hiformer-dashboard.json"))));
    assertThat(used).isNotEmpty();

    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      Map<String, String> env = env(docs, container);
      env.put("HIFORMER_BOOTSTRAP_SERVERS", kafka.bootstrapServers());
      CommandLine commandLine = HiformerCommand.commandLine(env, config);
      ServeCommand serve = commandLine.getSubcommands().get("serve").getCommand();
      AtomicReference<String> scraped = new AtomicReference<>();
      AtomicReference<HealthCheckResponse.ServingStatus> ready = new AtomicReference<>();
      AtomicReference<Integer> readiness = new AtomicReference<>();
      AtomicReference<Integer> liveness = new AtomicReference<>();
      JsonNode readyProbe = container.path("readinessProbe").path("httpGet");
      JsonNode live = container.path("livenessProbe").path("httpGet");
      assertThat(portName(container, readyProbe.path("port").asText())).isEqualTo("metrics");
      assertThat(portName(container, live.path("port").asText())).isEqualTo("metrics");
      serve.onStart = server -> {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try (HttpClient http = HttpClient.newHttpClient()) {
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
          do {
            ready.set(HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder()
                .setService(RankerGrpc.SERVICE_NAME).build()).getStatus());
          } while (ready.get() != HealthCheckResponse.ServingStatus.SERVING && System.nanoTime() < deadline
              && sleep());
          readiness.set(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serve.boundMetricsPort
              + readyProbe.path("path").asText())).build(), HttpResponse.BodyHandlers.discarding()).statusCode());
          RankerGrpc.newBlockingStub(channel).rank(RankRequest.newBuilder().setUserId("u0")
              .addCandidates(Candidate.newBuilder().setItemId("i1")).build());
          try { // an invalid call, so that the error counter has a series to export
            RankerGrpc.newBlockingStub(channel).rank(RankRequest.newBuilder().setUserId("u0").build());
          } catch (io.grpc.StatusRuntimeException expected) {
            assertThat(expected.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.INVALID_ARGUMENT);
          }
          liveness.set(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serve.boundMetricsPort
              + live.path("path").asText())).build(), HttpResponse.BodyHandlers.discarding()).statusCode());
          scraped.set(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serve.boundMetricsPort
              + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body());
        } catch (Exception e) {
          throw new AssertionError(e);
        } finally {
          channel.shutdownNow();
          server.close();
        }
      };
      assertThat(commandLine.execute(args.toArray(String[]::new))).isZero();
      assertThat(ready.get()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      assertThat(readiness.get()).isEqualTo(200);
      assertThat(liveness.get()).isEqualTo(200);
      // The JVM's and the process's own metrics, and latency histograms of a bounded number of buckets.
      assertThat(scraped.get()).contains("jvm_memory_used_bytes", "jvm_gc_", "jvm_threads_live_threads",
          "jvm_classes_loaded_classes", "process_cpu_usage", "process_uptime_seconds");
      long buckets = scraped.get().lines().filter(l -> l.startsWith("hiformer_rank_latency_seconds_bucket{")
          && l.contains("status=\"OK\"")).count();
      assertThat(buckets).as("latency buckets of one series").isBetween(10L, 30L);
      Set<String> exported = metricsIn(scraped.get());
      // The joiner's own metrics are checked against a running joiner (StreamingCommandsTest), the
      // continuous trainer's against a running one (TrainFollowCommandTest).
      used.removeIf(name -> name.startsWith("hiformer_joiner_") || name.startsWith("hiformer_follow_"));
      assertThat(exported).as("metrics exported by the ranker").containsAll(used);
    }
  }

  @Test
  void theErrorRateAlertPagesOnServerSideStatusesOnly() throws Exception {
    JsonNode rules = YAML.readTree(DEPLOY.resolve("prometheus/alerts.yaml").toFile());
    JsonNode alert = null;
    Set<String> alerts = new TreeSet<>();
    for (JsonNode group : rules.path("groups")) {
      for (JsonNode rule : group.path("rules")) {
        alerts.add(rule.path("alert").asText());
        if (rule.path("alert").asText().equals("HiformerRankErrorRate")) {
          alert = rule;
        }
      }
    }
    assertThat(alerts).contains("HiformerRankLogDropped", "HiformerTargetDown");
    assertThat(alert).isNotNull();
    String expr = alert.path("expr").asText();
    Matcher m = Pattern.compile("hiformer_rank_errors_total\\{status=~\"([^\"]+)\"}").matcher(expr);
    assertThat(m.find()).as("the errors the alert counts are selected by status: %s", expr).isTrue();
    Pattern counted = Pattern.compile(m.group(1));
    for (io.grpc.Status.Code code : io.grpc.Status.Code.values()) {
      boolean client = switch (code) {
        case CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, FAILED_PRECONDITION,
            OUT_OF_RANGE, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ABORTED, OK -> true;
        default -> false;
      };
      assertThat(counted.matcher(code.name()).matches()).as("%s counted", code).isEqualTo(!client);
    }
  }

  /** The name of a container port given by name or number. */
  private static String portName(JsonNode container, String port) {
    for (JsonNode p : container.path("ports")) {
      if (p.path("name").asText().equals(port) || p.path("containerPort").asText().equals(port)) {
        return p.path("name").asText();
      }
    }
    throw new AssertionError("no container port " + port);
  }

  private static boolean sleep() {
    try {
      Thread.sleep(100);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  static Set<String> metricsIn(String text) {
    Set<String> names = new TreeSet<>();
    Matcher m = METRIC.matcher(text);
    while (m.find()) {
      names.add(m.group());
    }
    return names;
  }

  private static List<JsonNode> manifests() throws Exception {
    List<JsonNode> docs = new ArrayList<>();
    try (Stream<Path> files = Files.list(DEPLOY.resolve("kubernetes"))) {
      for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        try (var parser = YAML.getFactory().createParser(file.toFile())) {
          YAML.readValues(parser, JsonNode.class).forEachRemaining(d -> {
            assertThat(d.path("apiVersion").asText()).as("apiVersion in %s", file).isNotEmpty();
            assertThat(d.path("kind").asText()).as("kind in %s", file).isNotEmpty();
            docs.add(d);
          });
        }
      }
    }
    return docs;
  }

  private static List<JsonNode> containers(JsonNode doc) {
    JsonNode spec = switch (doc.path("kind").asText()) {
      case "Deployment", "StatefulSet" -> doc.path("spec").path("template").path("spec");
      case "CronJob" -> doc.path("spec").path("jobTemplate").path("spec").path("template").path("spec");
      default -> null;
    };
    List<JsonNode> out = new ArrayList<>();
    if (spec != null) {
      spec.path("containers").forEach(out::add);
    }
    return out;
  }

  /** A container's environment, values from ConfigMaps looked up (failing on a missing map or key). */
  private static Map<String, String> env(List<JsonNode> docs, JsonNode container) {
    Map<String, String> env = new HashMap<>();
    container.path("env").forEach(e -> {
      JsonNode ref = e.path("valueFrom").path("configMapKeyRef");
      if (ref.isMissingNode()) {
        env.put(e.path("name").asText(), e.path("value").asText());
        return;
      }
      JsonNode map = docs.stream().filter(d -> d.path("kind").asText().equals("ConfigMap")
          && d.path("metadata").path("name").asText().equals(ref.path("name").asText())).findFirst()
          .orElseThrow(() -> new AssertionError("no ConfigMap " + ref.path("name").asText()));
      assertThat(map.path("data").has(ref.path("key").asText())).as("ConfigMap %s key %s", ref.path("name").asText(),
          ref.path("key").asText()).isTrue();
      env.put(e.path("name").asText(), map.path("data").path(ref.path("key").asText()).asText());
    });
    return env;
  }

  /** The project version, from the parent POM. */
  static String projectVersion() throws Exception {
    String pom = Files.readString(Path.of("..", "pom.xml"));
    Matcher m = Pattern.compile("</modelVersion>[\\s\\S]*?<version>([^<]+)</version>").matcher(pom);
    assertThat(m.find()).as("the parent POM's version").isTrue();
    return m.group(1).strip();
  }

  @Test
  void everyImageIsTheDistributionsVersionAndTheBrokerAddressIsConfiguration() throws Exception {
    String version = projectVersion();
    int images = 0;
    for (JsonNode doc : manifests()) {
      for (JsonNode container : containers(doc)) {
        assertThat(container.path("image").asText()).as("image of %s", doc.path("metadata").path("name").asText())
            .isEqualTo("hiformer:" + version);
        images++;
        container.path("env").forEach(e -> {
          if (e.path("name").asText().equals("HIFORMER_BOOTSTRAP_SERVERS")) {
            assertThat(e.has("valueFrom")).as("%s takes the broker address from a ConfigMap",
                doc.path("metadata").path("name").asText()).isTrue();
          }
        });
      }
    }
    assertThat(images).isGreaterThanOrEqualTo(3);
    assertThat(Files.readString(DEPLOY.resolve("container/Containerfile"))).contains("-t hiformer:" + version + " ");
    assertThat(Files.readString(Path.of("README.md"))).contains("-t hiformer:" + version + " ");
  }

  /** The hiformer command lines of a container: its args, or each hiformer line of its shell script. */
  private static List<List<String>> commandLines(JsonNode container) {
    List<List<String>> lines = new ArrayList<>();
    if (!container.has("command")) {
      List<String> args = new ArrayList<>();
      container.path("args").forEach(a -> args.add(a.asText()));
      lines.add(args);
      return lines;
    }
    String script = container.path("args").get(0).asText().replace("\\\n", " ");
    for (String line : script.split("\n")) {
      String s = line.strip();
      if (s.startsWith("/opt/hiformer/bin/hiformer ")) {
        List<String> args = new ArrayList<>();
        for (String word : s.substring("/opt/hiformer/bin/hiformer ".length()).split("\\s+")) {
          // Shell values computed at run time stand in as fixed ones of the same form.
          args.add(word.replace("\"$from\"", "2026-01-01T00:00:00Z").replace("\"$valid\"", "2026-01-07T00:00:00Z"));
        }
        lines.add(args);
      }
    }
    assertThat(lines).as("hiformer lines in %s", script).isNotEmpty();
    return lines;
  }

  /** The ConfigMap file a command line's --config names, written to a temporary file; null without one. */
  private Path configFile(List<JsonNode> docs, List<String> args) throws Exception {
    int at = args.indexOf("--config");
    if (at < 0) {
      return null;
    }
    Path named = Path.of(args.get(at + 1));
    for (JsonNode doc : docs) {
      if (doc.path("kind").asText().equals("ConfigMap") && doc.path("data").has(named.getFileName().toString())) {
        Path file = Files.createTempFile(dir, "config", ".yaml");
        Files.writeString(file, doc.path("data").path(named.getFileName().toString()).asText());
        return file;
      }
    }
    throw new AssertionError("no ConfigMap holds " + named);
  }
}
