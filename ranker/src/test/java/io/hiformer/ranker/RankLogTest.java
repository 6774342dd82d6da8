package io.hiformer.ranker;

import static io.hiformer.features.kafka.TopicReader.await;
import static io.hiformer.features.kafka.TopicReader.read;
import static io.hiformer.ranker.RankServiceTest.item;
import static io.hiformer.ranker.RankServiceTest.request;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.ranklog.RankLogEntries;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankResponse;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.TrainingExample;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rank calls on a real gRPC server, logged to a real broker: the exact inputs scored, and never a blocked call. */
class RankLogTest {

  /** The request's rows the per-candidate way: each candidate's raw values through the Featurizer. */
  static Batch featurized(LoadedModel m, RankRequest r) {
    Featurizer f = new Featurizer(m.transforms());
    Batch b = new Batch(m.parameters().config(), r.getCandidatesCount());
    for (Candidate c : r.getCandidatesList()) {
      Map<String, String> row = new HashMap<>();
      row.put("user_id", r.getUserId());
      row.put("item_id", c.getItemId());
      row.put("hour", r.getContextMap().get("hour").getCategorical());
      row.put("price", Double.toString(c.getFeaturesMap().get("price").getDense()));
      f.add(RawRecord.of(row), b);
    }
    return b;
  }

  @Test
  void rankCallsAreLoggedWithTheExactInputsScoredAndABrokerOutageNeverBlocksThem(@TempDir Path dir)
      throws Exception {
    ModelRegistry registry = ModelRegistry.open(dir);
    TinyModels.publish(registry, 1);
    try (KafkaBroker kafka = KafkaBroker.forTests();
        LoadedModel model = LoadedModel.load(registry, registry.version(TinyModels.NAME, 1), 1)) {
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        KafkaTopics.ensure(admin, List.of(KafkaTopics.topic("rank-log", 1)));
      }
      RankService service = new RankService(model);
      RankLogWriter writer = RankLogWriter.start(kafka.bootstrapServers(), "rank-log",
          RankLogWriter.Options.DEFAULTS.withCapacityBytes(1024).withProducer(Map.of("request.timeout.ms", 500,
              "delivery.timeout.ms", 1000, "reconnect.backoff.max.ms", 200)));
      service.logTo(writer);
      RankerServer server = RankServiceTest.startServer(service);
      ManagedChannel channel = RankServiceTest.channel(server);
      try {
        var ranker = RankerGrpc.newBlockingStub(channel);
        List<RankRequest> requests = List.of(
            request("u1", item("i0", 3), item("new", 0.5), item("i2", 9), item("i4", 12)).setRequestId("a").build(),
            request("u2", item("i1", 4.5), item("i3", 1)).setTopK(1).setUnitId("device-7").build(),
            request("stranger", item("i4", 0)).setRequestId("c").build());
        List<RankResponse> responses = new ArrayList<>();
        for (RankRequest r : requests) {
          responses.add(ranker.rank(r));
        }
        await("three entries acknowledged", () -> writer.sent() == 3);

        ModelConfig config = model.parameters().config();
        List<ConsumerRecord<String, byte[]>> records = read(kafka.bootstrapServers(), "rank-log", 3);
        for (int k = 0; k < 3; k++) {
          RankRequest request = requests.get(k);
          RankResponse response = responses.get(k);
          RankLogEntry entry = RankLogEntry.parseFrom(records.get(k).value());
          assertThat(records.get(k).key()).isEqualTo(response.getRequestId());
          assertThat(entry.getRequestId()).isEqualTo(response.getRequestId());
          assertThat(entry.getUserId()).isEqualTo(request.getUserId());
          assertThat(entry.getUnitId()).isEqualTo(k == 1 ? "device-7" : request.getUserId());
          assertThat(entry.getContextMap()).isEqualTo(request.getContextMap());
          assertThat(entry.getModelName()).isEqualTo(TinyModels.NAME);
          assertThat(entry.getModelVersion()).isEqualTo(1);
          assertThat(entry.getArm()).isEqualTo("default");
          assertThat(entry.getReturnedCount()).isEqualTo(response.getCandidatesCount());
          assertThat(records.get(k).timestamp()).isEqualTo(entry.getServedTimeMs());

          Batch direct = featurized(model, request);
          ExampleRows rows = new ExampleRows(config);
          Batch replay = new Batch(config, request.getCandidatesCount());
          for (int i = 0; i < request.getCandidatesCount(); i++) {
            LoggedCandidate c = entry.getCandidates(i);
            assertThat(c.getItemId()).isEqualTo(request.getCandidates(i).getItemId());
            assertThat(c.getInputs()).as("request %d candidate %d", k, i)
                .isEqualTo(RankLogEntries.inputs(config, direct, i));
            rows.add(TrainingExample.newBuilder().setInputs(c.getInputs()).addLabels(0).addLabels(0)
                .addLabelMask(false).addLabelMask(false).build(), replay);
            if (c.getPosition() < response.getCandidatesCount()) {
              var answered = response.getCandidates(c.getPosition());
              assertThat(answered.getItemId()).isEqualTo(c.getItemId());
              assertThat(answered.getScore()).isEqualTo(c.getScore());
              assertThat(answered.getTaskScoresList()).isEqualTo(c.getTaskScoresList());
            }
          }
          assertThat(entry.getCandidatesList()).extracting(LoggedCandidate::getPosition)
              .containsExactlyInAnyOrderElementsOf(java.util.stream.IntStream.range(0,
                  request.getCandidatesCount()).boxed().toList());
          // Replaying the logged inputs through the model gives the logged probabilities.
          float[] logits = new float[request.getCandidatesCount() * 2];
          model.scorer().score(replay, logits);
          for (int i = 0; i < request.getCandidatesCount(); i++) {
            for (int t = 0; t < 2; t++) {
              assertThat(entry.getCandidates(i).getTaskScores(t).getProbability())
                  .isEqualTo((float) (1 / (1 + Math.exp(-logits[i * 2 + t]))));
            }
          }
        }

        // The broker goes away: calls go on at full speed; entries wait in the small buffer (the rest
        // dropped) and in the producer, and once the broker is back each is sent, dropped or failed.
        kafka.stop();
        var withDeadline = ranker.withDeadlineAfter(2, TimeUnit.SECONDS);
        for (int i = 0; i < 200; i++) {
          RankResponse r = withDeadline.rank(requests.get(i % 3));
          assertThat(r.getCandidatesCount()).isPositive();
        }
        kafka.start();
        await("every entry sent, dropped or failed", () -> writer.sent() + writer.dropped() + writer.failed() == 203);
        String metrics = service.metrics().scrape();
        assertThat(metrics).contains("hiformer_rank_log_entries_total{result=\"sent\"} " + writer.sent() + ".0",
            "hiformer_rank_log_entries_total{result=\"dropped\"} " + writer.dropped() + ".0",
            "hiformer_rank_log_entries_total{result=\"failed\"} " + writer.failed() + ".0");
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        writer.close();
      }
    }
  }
}
