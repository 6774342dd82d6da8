package io.hiformer.ops;

import static io.hiformer.features.kafka.TopicReader.read;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.hiformer.features.joiner.ExampleJoiner;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.Outcome;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.TaskScore;
import io.hiformer.proto.TrainingExample;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code serve} answering calls through a 30 s broker outage, with the joiner running: every
 * answered call's rank-log entry reaches the topic once the broker is back, and becomes examples.
 */
class RankLogOutageTest {
  static final int PARTITIONS = 2;

  @Test
  void everyAnsweredCallIsLoggedThroughA30SecondOutageAndJoined(@TempDir Path dir) throws Exception {
    ServeCommandTest.publishTinyModel(dir.resolve("registry"), "tiny");
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      TopicNames topics = new TopicNames("outage.");
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        KafkaTopics.ensure(admin, List.of(KafkaTopics.topic(topics.rankLog(), PARTITIONS),
            KafkaTopics.topic(topics.outcomes(), PARTITIONS), KafkaTopics.topic(topics.examples(), PARTITIONS),
            KafkaTopics.topic(topics.examplesDlq(), 1)));
      }
      // Windows long enough that outcomes sent after the outage still count (event time is serving time).
      ExampleJoiner.Options options = new ExampleJoiner.Options(Duration.ofMinutes(2), Duration.ofMinutes(1), topics);
      try (ExampleJoiner joiner = ExampleJoiner.start(new ExampleJoiner.Deployment(kafka.bootstrapServers(),
          "outage-joiner", dir.resolve("joiner"), 1), options)) {
        Map<String, RankResponse> answered = new HashMap<>();
        AtomicReference<String> scraped = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        ServeCommand serve = new ServeCommand();
        serve.onStart = server -> {
          ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
          try {
            var ranker = RankerGrpc.newBlockingStub(channel);
            call(ranker, answered, "before", Duration.ofSeconds(2));
            kafka.stop();
            call(ranker, answered, "down", Duration.ofSeconds(30));
            kafka.start();
            call(ranker, answered, "after", Duration.ofSeconds(2));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (logged(kafka, topics).size() < answered.size() && System.nanoTime() < deadline) {
              Thread.sleep(200);
            }
            try (HttpClient http = HttpClient.newHttpClient()) {
              scraped.set(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + serve.boundMetricsPort
                  + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body());
            }
          } catch (Throwable t) {
            failure.set(t);
          } finally {
            channel.shutdownNow();
            server.close();
          }
        };
        int exit = new CommandLine(serve).execute("--registry", dir.resolve("registry").toString(), "--model", "tiny",
            "--port", "0", "--metrics-port", "0", "--threads", "1", "--registry-poll", "0",
            "--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", topics.prefix());
        if (failure.get() != null) {
          throw new AssertionError(failure.get());
        }
        assertThat(exit).isZero();
        int down = (int) answered.keySet().stream().filter(id -> id.startsWith("down")).count();
        assertThat(down).as("calls answered while the broker was down").isGreaterThan(10);
        Map<String, RankLogEntry> logged = logged(kafka, topics);
        assertThat(logged.keySet()).as("each answered call logged").containsExactlyInAnyOrderElementsOf(answered.keySet());
        assertThat(read(kafka.bootstrapServers(), topics.rankLog(), -1)).as("once").hasSize(answered.size());
        assertThat(scraped.get()).contains("hiformer_rank_log_entries_total{result=\"failed\"} 0.0",
            "hiformer_rank_log_entries_total{result=\"dropped\"} 0.0",
            "hiformer_rank_log_entries_total{result=\"sent\"} " + answered.size() + ".0");

        // A click on every other call's top item; then a request far ahead in each partition closes the rest.
        List<String> expected = new ArrayList<>();
        try (var producer = new KafkaProducer<>(Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()),
            new StringSerializer(), new ByteArraySerializer())) {
          int k = 0;
          for (var e : answered.entrySet()) {
            String id = e.getKey();
            RankResponse r = e.getValue();
            boolean click = k++ % 2 == 0;
            if (click) {
              producer.send(new ProducerRecord<>(topics.outcomes(), id, Outcome.newBuilder().setRequestId(id)
                  .setItemId(r.getCandidates(0).getItemId()).setTask("click").setValue(1f)
                  .setEventTimeMs(logged.get(id).getServedTimeMs() + 100).build().toByteArray())).get();
            }
            for (int i = 0; i < r.getCandidatesCount(); i++) {
              expected.add(id + "/" + r.getCandidates(i).getItemId() + " " + (click && i == 0 ? 1f : 0f));
            }
          }
          Set<Integer> ticked = new HashSet<>();
          for (int n = 0; ticked.size() < PARTITIONS; n++) {
            String id = "tick" + n;
            var metadata = producer.send(new ProducerRecord<>(topics.rankLog(), id,
                tick(id, System.currentTimeMillis() + 10 * 60_000).toByteArray())).get();
            ticked.add(metadata.partition());
          }
        }
        List<String> examples = new ArrayList<>();
        for (ConsumerRecord<String, byte[]> r : read(kafka.bootstrapServers(), topics.examples(), expected.size())) {
          TrainingExample x = TrainingExample.parseFrom(r.value());
          examples.add(x.getRequestId() + "/" + x.getItemId() + " " + x.getLabels(0));
        }
        assertThat(examples).as("one example per returned candidate, labelled").hasSize(expected.size())
            .containsExactlyInAnyOrderElementsOf(expected);
        assertThat(read(kafka.bootstrapServers(), topics.examples(), -1)).as("nothing twice").hasSize(expected.size());
        assertThat(read(kafka.bootstrapServers(), topics.examplesDlq(), -1)).as("nothing dead-lettered").isEmpty();
      }
    }
  }

  /** Calls with fresh request ids for {@code length}; records each answered call. */
  static void call(RankerGrpc.RankerBlockingStub ranker, Map<String, RankResponse> answered, String prefix,
      Duration length) throws InterruptedException {
    long end = System.nanoTime() + length.toNanos();
    for (int i = 0; System.nanoTime() < end; i++) {
      String id = prefix + i;
      RankResponse r = ranker.withDeadlineAfter(5, TimeUnit.SECONDS).rank(RankRequest.newBuilder().setRequestId(id)
          .setUserId("u" + i % 2).addCandidates(Candidate.newBuilder().setItemId("i" + i % 3))
          .addCandidates(Candidate.newBuilder().setItemId("i" + (i + 1) % 3)).build());
      answered.put(id, r);
      Thread.sleep(50);
    }
  }

  static Map<String, RankLogEntry> logged(KafkaBroker kafka, TopicNames topics) throws Exception {
    Map<String, RankLogEntry> entries = new HashMap<>();
    for (ConsumerRecord<String, byte[]> r : read(kafka.bootstrapServers(), topics.rankLog(), -1)) {
      entries.put(r.key(), RankLogEntry.parseFrom(r.value()));
    }
    return entries;
  }

  static RankLogEntry tick(String id, long time) {
    return RankLogEntry.newBuilder().setRequestId(id).setUserId("u").setModelName("tiny").setModelVersion(1)
        .setArm("default").setServedTimeMs(time).setReturnedCount(1)
        .addCandidates(LoggedCandidate.newBuilder().setItemId("z").setPosition(0)
            .setInputs(io.hiformer.proto.ModelInputs.newBuilder().addCategoricalIds(1))
            .addTaskScores(TaskScore.newBuilder().setTask("click").setProbability(0.5f)))
        .build();
  }
}
