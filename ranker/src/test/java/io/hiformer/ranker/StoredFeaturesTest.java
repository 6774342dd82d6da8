package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.FeatureIngestor;
import io.hiformer.features.online.FeaturePublisher;
import io.hiformer.features.online.FeatureStore;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.RankerGrpc;
import io.hiformer.proto.ScoredCandidate;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rank on a real gRPC server reading user and item features from the online store, which a real
 * broker's feature topics keep up to date. The oracle: a call whose features come from the store
 * scores exactly like the same call carrying those values itself.
 */
class StoredFeaturesTest {
  private static final FeatureSchema SCHEMA = FeatureSchema.parse("""
      tasks: [{name: click}]
      fields:
        - {name: user_id, kind: categorical, side: user}
        - {name: country, kind: categorical, side: user}
        - {name: item_id, kind: categorical, side: item}
        - {name: price, kind: dense, side: item, standardize: true}
        - {name: hour, kind: categorical, side: context}
      """);

  // Scores of the same rows may differ in the last bits: SIMD reductions may be ordered differently once compiled.
  private static final float TOLERANCE = 1e-5f;

  @TempDir
  static Path dir;
  private static ModelRegistry registry;
  private static KafkaBroker kafka;

  @BeforeAll
  static void setUp() throws Exception {
    List<RawRecord> records = new ArrayList<>();
    String[] countries = {"de", "fr", "it"};
    for (int i = 0; i < 12; i++) {
      records.add(RawRecord.of(Map.of("user_id", "u" + i % 3, "country", countries[i % 3], "item_id", "i" + i % 4,
          "price", Double.toString(1.5 * i), "hour", Integer.toString(i % 4), "click", Integer.toString(i % 2))));
    }
    Transforms t = Transforms.fit(SCHEMA, records);
    ModelConfig config = new ModelConfig("stored", 8, 2, 1, t.tasks(), 2, 2, 2, List.of(8), 1, false, t.modelFields());
    registry = ModelRegistry.open(dir.resolve("registry"));
    registry.publish("stored", Parameters.initialize(config, 3), Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    kafka = KafkaBroker.forTests();
  }

  @AfterAll
  static void tearDown() {
    kafka.close();
  }

  /** A ranker as serve runs one: store from the model's fields, ingestor, health waiting for the catch-up. */
  private record Ranker(LoadedModel model, FeatureIngestor ingestor, RankService service, RankerServer server,
      ManagedChannel channel) implements AutoCloseable {

    static Ranker start(TopicNames topics) throws Exception {
      LoadedModel model = LoadedModel.load(registry, registry.version("stored", 1), 1);
      RankService service = new RankService(model);
      FeatureStore store = new FeatureStore(StoreSchema.of(model.transforms().schemaFields()), 1000);
      store.bindTo(service.metrics().registry());
      service.useFeatures(store);
      FeatureIngestor ingestor = FeatureIngestor.start(FeatureIngestor.Settings.of(kafka.bootstrapServers(), topics),
          store, service.metrics().registry());
      RankerServer server = RankerServer.start(RankerServer.Settings.of(
          new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).withReady(ingestor.whenCaughtUp()), service);
      return new Ranker(model, ingestor, service, server, RankServiceTest.channel(server));
    }

    ServingStatus health() {
      return HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder()
          .setService(RankerGrpc.SERVICE_NAME).build()).getStatus();
    }

    /** The scores of {@code request}'s candidates, in request order. */
    float[] scores(RankRequest request) {
      List<ScoredCandidate> ranked = RankerGrpc.newBlockingStub(channel).rank(request).getCandidatesList();
      float[] out = new float[request.getCandidatesCount()];
      for (ScoredCandidate c : ranked) {
        for (int i = 0; i < out.length; i++) {
          if (request.getCandidates(i).getItemId().equals(c.getItemId())) {
            out[i] = c.getScore();
          }
        }
      }
      return out;
    }

    @Override
    public void close() throws Exception {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.close();
      ingestor.close();
      model.close();
    }
  }

  private static TopicNames topics(String prefix) throws Exception {
    TopicNames topics = new TopicNames(prefix);
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      KafkaTopics.ensure(admin, KafkaTopics.featureTopics(topics, 2));
      KafkaTopics.awaitLeaders(admin, List.of(topics.featuresUser(), topics.featuresItem()), Duration.ofSeconds(30));
    }
    return topics;
  }

  private static boolean close(float[] a, float[] b, float tolerance) {
    for (int i = 0; i < a.length; i++) {
      if (Math.abs(a[i] - b[i]) > tolerance) {
        return false;
      }
    }
    return true;
  }

  private static FeatureValue cat(String v) {
    return FeatureValue.newBuilder().setCategorical(v).build();
  }

  private static FeatureValue dense(double v) {
    return FeatureValue.newBuilder().setDense(v).build();
  }

  private static FeatureUpdate update(EntityKind kind, String id, String column, FeatureValue v) {
    return FeatureUpdate.newBuilder().setEntityKind(kind).setEntityId(id).setEventTimeMs(System.currentTimeMillis())
        .putFields(column, v).build();
  }

  /** u1 with items i1 and i2; with {@code country} and the prices carried by the request when not null. */
  private static RankRequest request(String country, Double price1, Double price2) {
    RankRequest.Builder r = RankRequest.newBuilder().setUserId("u1").putContext("hour", cat("2"));
    if (country != null) {
      r.putContext("country", cat(country));
    }
    Candidate.Builder i1 = Candidate.newBuilder().setItemId("i1");
    Candidate.Builder i2 = Candidate.newBuilder().setItemId("i2");
    if (price1 != null) {
      i1.putFeatures("price", dense(price1));
      i2.putFeatures("price", dense(price2));
    }
    return r.addCandidates(i1).addCandidates(i2).build();
  }

  @Test
  void anUpdateIsVisibleToRankWithinASecondAndRequestValuesWinOverStoredOnes() throws Exception {
    TopicNames topics = topics("visible.");
    try (Ranker ranker = Ranker.start(topics)) {
      assertThat(ranker.ingestor().awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      assertThat(ranker.health()).isEqualTo(ServingStatus.SERVING);
      float[] nothingStored = ranker.scores(request(null, null, null));
      float[] carried = ranker.scores(request("fr", 12.0, 3.0));
      float[] carriedOther = ranker.scores(request("it", 0.0, 15.0));
      assertThat(close(carried, nothingStored, 1e-3f)).as("the features matter to the scores").isFalse();

      try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
        publisher.send(update(EntityKind.ENTITY_KIND_USER, "u1", "country", cat("fr")));
        publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i1", "price", dense(12)));
        publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i2", "price", dense(3)));
        publisher.flush();
      }
      long written = System.nanoTime();
      float[] seen = ranker.scores(request(null, null, null));
      while (!close(seen, carried, TOLERANCE) && System.nanoTime() - written < 1_000_000_000L) {
        Thread.sleep(5);
        seen = ranker.scores(request(null, null, null));
      }
      long ms = (System.nanoTime() - written) / 1_000_000;
      assertThat(seen).as("stored features score like carried ones, %d ms after the write", ms)
          .containsExactly(carried, within(TOLERANCE));
      assertThat(ms).isLessThan(1000);

      // Request-time values win: carrying other values scores as before the store had any.
      assertThat(ranker.scores(request("it", 0.0, 15.0))).containsExactly(carriedOther, within(TOLERANCE));
      String metrics = ranker.service().metrics().scrape();
      assertThat(metrics).contains("hiformer_features_updates_total{kind=\"item\"} 2.0")
          .contains("hiformer_features_entities{kind=\"user\"} 1.0").contains("hiformer_features_caught_up 1.0")
          .contains("hiformer_features_freshness_seconds_count{kind=\"user\"} 1");
    }
  }

  /** Rows are cached per item (ItemRowCache): an item update through the topic must replace the cached row. */
  @Test
  void anItemUpdateAfterTheItemWasScoredIsScoredWithTheNewValue() throws Exception {
    TopicNames topics = topics("recached.");
    try (Ranker ranker = Ranker.start(topics);
        FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      assertThat(ranker.ingestor().awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      float[] first = ranker.scores(request(null, 12.0, 3.0));
      float[] second = ranker.scores(request(null, 0.5, 15.0));
      assertThat(close(first, second, 1e-3f)).as("the prices matter to the scores").isFalse();
      for (float[] expected : List.of(first, second, first)) {
        double price1 = expected == first ? 12 : 0.5;
        double price2 = expected == first ? 3 : 15;
        publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i1", "price", dense(price1)));
        publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i2", "price", dense(price2)));
        publisher.flush();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        float[] seen = ranker.scores(request(null, null, null));
        while (!close(seen, expected, TOLERANCE) && System.nanoTime() < deadline) {
          Thread.sleep(5);
          seen = ranker.scores(request(null, null, null)); // each call re-reads (and caches) the rows
        }
        assertThat(seen).as("scored with prices %s and %s", price1, price2)
            .containsExactly(expected, within(TOLERANCE));
      }
    }
  }

  @Test
  void aDenseValueBeyondTheFloatRangeGoesToTheDeadLettersAndCallsWithThatItemKeepSucceeding() throws Exception {
    TopicNames topics = topics("overflow.");
    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i1", "price", dense(1e39)));
      publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i2", "price", dense(3)));
      publisher.flush();
    }
    try (Ranker ranker = Ranker.start(topics)) {
      assertThat(ranker.ingestor().awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      ConsumerRecord<byte[], byte[]> dead = deadLetter(topics);
      assertThat(new String(dead.headers().lastHeader(FeatureIngestor.REASON_HEADER).value(), StandardCharsets.UTF_8))
          .isEqualTo("not_finite: field 'price' of an item is 1.0E39, beyond the float range (±3.4028235E38);"
              + " dense values must be finite floats");
      assertThat(new String(dead.key(), StandardCharsets.UTF_8)).isEqualTo("i1");
      // The call succeeds, i1 scored without a price (an empty value is a missing one), i2 with its stored one.
      RankRequest missingPrice = RankRequest.newBuilder().setUserId("u1").putContext("hour", cat("2"))
          .addCandidates(Candidate.newBuilder().setItemId("i1").putFeatures("price", FeatureValue.getDefaultInstance()))
          .addCandidates(Candidate.newBuilder().setItemId("i2").putFeatures("price", dense(3))).build();
      assertThat(ranker.scores(request(null, null, null)))
          .containsExactly(ranker.scores(missingPrice), within(TOLERANCE));
    }
    // The topic is compacted and read again from the start: a restarted ranker serves the item too.
    try (Ranker again = Ranker.start(topics)) {
      assertThat(again.ingestor().awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      assertThat(again.scores(request(null, null, null))).hasSize(2);
    }
  }

  /** The first record on the dead-letter topic, waiting up to 30 s for it. */
  private static ConsumerRecord<byte[], byte[]> deadLetter(TopicNames topics) {
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(Map.<String, Object>of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()), new ByteArrayDeserializer(),
        new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topics.featuresDlq()).forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          return r;
        }
      }
    }
    throw new AssertionError("nothing on " + topics.featuresDlq() + " within 30 s");
  }

  @Test
  void aRestartedRankerCatchesUpFromTheTopicsAndSaysServingOnlyThen() throws Exception {
    TopicNames topics = topics("restart.");
    try (FeaturePublisher publisher = new FeaturePublisher(kafka.bootstrapServers(), topics)) {
      for (String country : List.of("de", "it", "fr")) { // the last one wins
        publisher.send(update(EntityKind.ENTITY_KIND_USER, "u1", "country", cat(country)));
        Thread.sleep(2); // distinct event times
      }
      publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i1", "price", dense(12)));
      publisher.send(update(EntityKind.ENTITY_KIND_ITEM, "i2", "price", dense(3)));
      publisher.flush();
    }
    float[] carried;
    try (Ranker first = Ranker.start(topics)) {
      carried = first.scores(request("fr", 12.0, 3.0));
      assertThat(first.ingestor().awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
      assertThat(first.scores(request(null, null, null))).containsExactly(carried, within(TOLERANCE));
    }

    kafka.stop();
    try (Ranker second = Ranker.start(topics)) {
      Thread.sleep(1000);
      assertThat(second.health()).as("the topics cannot be read yet").isEqualTo(ServingStatus.NOT_SERVING);
      assertThat(second.scores(request("fr", 12.0, 3.0))).as("calls are answered meanwhile")
          .containsExactly(carried, within(TOLERANCE));
      kafka.start();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (second.health() != ServingStatus.SERVING && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(second.health()).isEqualTo(ServingStatus.SERVING);
      assertThat(second.scores(request(null, null, null))).as("caught up before serving")
          .containsExactly(carried, within(TOLERANCE));
    }
  }
}
