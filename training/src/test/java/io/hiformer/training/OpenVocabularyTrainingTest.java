package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.ExampleTopic.Bound;
import io.hiformer.features.ranklog.RankLogEntries;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.Batch;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.model.CpuScorer;
import io.hiformer.proto.TrainingExample;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Open fields in training: a fine-tune from the examples topic grows them; admitted rows start afresh. */
class OpenVocabularyTrainingTest {
  static final String SCHEMA = """
      tasks:
        - {name: click, column: clicked}
      fields:
        - {name: user, column: user_id, kind: categorical, side: user}
        - {name: item, column: item_id, kind: categorical, side: item, open: true, min_count: 2, ttl: 100000,
           max_vocabulary: 20}
        - {name: hour, kind: categorical, side: context}
      """;

  /** Items i0..i8 are clicked 30% of the time; the item launched later, 'fresh', 95%. */
  static List<Map<String, String>> rows(int n, long seed, boolean withFresh) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Map<String, String>> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      boolean fresh = withFresh && rnd.nextInt(4) == 0;
      out.add(Map.of("user_id", "u" + rnd.nextInt(10), "item_id", fresh ? "fresh" : "i" + rnd.nextInt(9),
          "hour", Integer.toString(rnd.nextInt(4)), "clicked", rnd.nextDouble() < (fresh ? 0.95 : 0.3) ? "1" : "0"));
    }
    return out;
  }

  /** The examples the joiner emits for rows served by {@code version} with transforms {@code t}. */
  static List<TrainingExample> served(Transforms t, ModelConfig config, long version, List<Map<String, String>> rows) {
    Featurizer featurizer = new Featurizer(t);
    Batch batch = new Batch(config, 1);
    List<TrainingExample> out = new ArrayList<>();
    for (Map<String, String> row : rows) {
      batch.clear();
      Map<String, String> features = new HashMap<>(row);
      features.remove("clicked");
      featurizer.add(RawRecord.of(features), batch);
      out.add(TrainingExample.newBuilder().setInputs(RankLogEntries.inputs(config, batch, 0))
          .addLabels(Float.parseFloat(row.get("clicked"))).addLabelMask(true).setUserId(row.get("user_id"))
          .setItemId(row.get("item_id")).setModelName("ctr").setModelVersion(version)
          .setRequestId("r" + out.size()).build());
    }
    return out;
  }

  static ModelConfig config(Transforms t) {
    return new ModelConfig("ctr", 8, 2, 1, t.tasks(), 4, 4, 2, List.of(16), 0, true, t.modelFields());
  }

  @Test
  void aFineTuneFromABaseVersionLearnsAnEmbeddingForAnIdLaunchedAfterIt(@TempDir Path dir) throws Exception {
    Transforms v1Transforms = Transforms.fit(FeatureSchema.parse(SCHEMA),
        rows(2000, 1, false).stream().map(RawRecord::of).toList());
    ModelConfig config = config(v1Transforms);
    assertThat(config.fields().get(1).vocab()).isEqualTo(21);  // row 0 and max_vocabulary rows, whatever is used
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    ModelRegistry.Version v1 = registry.publish("ctr", Parameters.initialize(config, 3),
        Map.of(Transforms.METADATA_KEY, v1Transforms.toJson()), "{}");
    List<TrainingExample> train = served(v1Transforms, config, 1, rows(3000, 2, true));
    List<TrainingExample> valid = served(v1Transforms, config, 1, rows(1000, 3, true));
    assertThat(train.stream().filter(e -> e.getItemId().equals("fresh")).findFirst().orElseThrow()
        .getInputs().getCategoricalIds(1)).isZero();  // v1 served 'fresh' as unknown

    try (KafkaBroker kafka = KafkaBroker.forTests();
        var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
            new StringSerializer(), new ByteArraySerializer())) {
      for (TrainingExample e : train) {
        producer.send(new ProducerRecord<>("examples", "r", e.toByteArray()));
      }
      for (TrainingExample e : valid) {
        producer.send(new ProducerRecord<>("examples", "r", e.toByteArray()));
      }
      producer.flush();
      Trainer.Options options = new Trainer.Options(128, 1e-2, 0, Dropout.NONE, Adam.Settings.defaults(), 2, 5, 0);
      TrainJob.ExamplesSpec spec = new TrainJob.ExamplesSpec("ctr", registry, v1, true, kafka.bootstrapServers(),
          "examples", new Bound.Beginning(), Bound.parse("0:" + train.size()), new Bound.End(), options, 4, 4, 0,
          null);
      TrainJob.Outcome outcome = TrainJob.run(spec, CpuKernels.scalar(), TrainingRunTest.quiet());

      // The new version records the grown vocabulary; its config (table sizes) is the base's.
      ModelRegistry.Version v2 = registry.publish("ctr", outcome.parameters(), outcome.metadata(),
          outcome.lineageJson());
      ModelFile.Loaded loaded = ModelFile.load(v2.file());
      assertThat(loaded.parameters().config()).isEqualTo(config);
      Transforms v2Transforms = Transforms.fromJson(loaded.metadata().get(Transforms.METADATA_KEY));
      JsonNode item = new ObjectMapper().readTree(v2Transforms.toJson()).get("fields").get(1);
      List<String> vocabulary = new ArrayList<>();
      item.get("vocabulary").forEach(v -> vocabulary.add(v.asText()));
      assertThat(vocabulary).contains("fresh").hasSize(10);
      int row = vocabulary.indexOf("fresh") + 1;
      assertThat(outcome.report().get("data").toString())
          .contains("vocabularies=[{field=item, ids=10, max=20, admitted=1, expired=0, refused_at_max=0}]");

      // It learned an embedding of its own for 'fresh', which scores above the unknown id.
      float[] emb = loaded.parameters().get("emb.item");
      int d = config.tokenDim();
      assertThat(Arrays.copyOfRange(emb, row * d, (row + 1) * d)).isNotEqualTo(Arrays.copyOfRange(emb, 0, d));
      try (CpuScorer scorer = new CpuScorer(new io.hiformer.model.Hiformer(loaded.parameters(), CpuKernels.scalar()), 1)) {
        double fresh = meanScore(scorer, v2Transforms, config, "fresh");
        double known = meanScore(scorer, v2Transforms, config, "i4");
        assertThat(fresh).isGreaterThan(known + 0.2);
      }
      assertThat(v1Transforms.toJson()).doesNotContain("fresh");
    }
  }

  private static double meanScore(CpuScorer scorer, Transforms t, ModelConfig config, String itemId) {
    Batch batch = new Batch(config, 40);
    Featurizer f = new Featurizer(t);
    for (int u = 0; u < 10; u++) {
      for (int h = 0; h < 4; h++) {
        f.add(RawRecord.of(Map.of("user_id", "u" + u, "item_id", itemId, "hour", Integer.toString(h))), batch);
      }
    }
    float[] logits = new float[batch.size()];
    scorer.score(batch, logits);
    double sum = 0;
    for (float v : logits) {
      sum += 1 / (1 + Math.exp(-v));
    }
    return sum / logits.length;
  }

  /**
   * The continuous trainer's loop, step by step: observe each example, featurise it with the
   * current vocabularies, drain and initialise the admitted rows, step. A stream of 10x more
   * items than the table holds never holds more, and each admitted row trains from row 0.
   */
  @Test
  void stepByStepGrowthBetweenTrainingSteps() {
    Transforms base = Transforms.fit(FeatureSchema.parse(SCHEMA.replace("ttl: 100000", "ttl: 40")),
        rows(200, 1, false).stream().map(RawRecord::of).toList());
    ModelConfig config = config(base);
    io.hiformer.features.OpenVocabularies vocab = io.hiformer.features.OpenVocabularies.of(base);
    io.hiformer.features.data.ExampleRows rows = new io.hiformer.features.data.ExampleRows(config, vocab);
    Parameters params = Parameters.initialize(config, 1);
    Trainer.Options options = new Trainer.Options(32, 1e-2, 0, Dropout.NONE, Adam.Settings.defaults(), 1, 1, 0);
    SplittableRandom rnd = new SplittableRandom(7);
    long admitted = 0;
    try (Trainer trainer = new Trainer(params, options, CpuKernels.scalar())) {
      Batch batch = new Batch(config, 32);
      int d = config.tokenDim();
      for (int step = 0; step < 40; step++) {
        batch.clear();
        for (int i = 0; i < 32; i++) {
          // About 180 distinct items, each in a burst of 7 examples; the table holds 20.
          String item = "n" + (step * 32 + i) / 7;
          TrainingExample e = TrainingExample.newBuilder().setInputs(io.hiformer.proto.ModelInputs.newBuilder()
              .addCategoricalIds(0).addCategoricalIds(0).addCategoricalIds(0)).addLabels(rnd.nextInt(2))
              .addLabelMask(true).setUserId("u1").setItemId(item).build();
          vocab.observe(io.hiformer.features.OpenVocabularies.rawValues(e));
          rows.add(e, batch);
        }
        for (io.hiformer.features.OpenVocabularies.Growth g : vocab.drain()) {
          trainer.initialiseRows(g.tensor(), g.admitted());
          admitted += g.admitted().length;
          float[] w = trainer.parameters().get(g.tensor());
          for (int r : g.admitted()) {
            assertThat(Arrays.copyOfRange(w, r * d, (r + 1) * d)).containsExactly(Arrays.copyOfRange(w, 0, d));
          }
        }
        assertThat(vocab.stats().getFirst().size()).isLessThanOrEqualTo(20);
        for (int b = 0; b < batch.size(); b++) {
          assertThat(batch.categorical(b, 1)).isBetween(0, 20);
        }
        trainer.step(batch);
      }
    }
    assertThat(admitted).isGreaterThan(150);  // about 1280 / 7 items, each admitted on its second sighting
    assertThat(vocab.stats().getFirst().expired()).isGreaterThan(150);
    assertThat(vocab.stats().getFirst().refused()).isZero();
  }

  @Test
  void aRecycledRowStartsAsTheUnknownRowWithFreshOptimiserState() {
    Transforms t = Transforms.fit(FeatureSchema.parse(SCHEMA), rows(200, 1, false).stream().map(RawRecord::of)
        .toList());
    ModelConfig config = config(t);
    Parameters params = Parameters.initialize(config, 1);
    Trainer.Options options = new Trainer.Options(64, 1e-2, 0, Dropout.NONE, Adam.Settings.defaults(), 1, 1, 0.9);
    try (Trainer trainer = new Trainer(params, options, CpuKernels.scalar())) {
      Batch batch = new Batch(config, 64);
      Featurizer f = new Featurizer(t);
      for (Map<String, String> r : rows(64, 5, false)) {
        f.add(RawRecord.of(r), batch);
      }
      int row = 3;  // an item the batch uses, so that it has optimiser state
      trainer.step(batch);
      trainer.step(batch);
      int d = config.tokenDim();
      float[] m = trainer.optimizer().firstMoments().get("emb.item");
      assertThat(Arrays.copyOfRange(m, row * d, (row + 1) * d)).isNotEqualTo(new float[d]);
      trainer.initialiseRows("emb.item", new int[] {row});
      float[] w = trainer.parameters().get("emb.item");
      float[] avg = trainer.evaluationParameters().get("emb.item");
      assertThat(Arrays.copyOfRange(w, row * d, (row + 1) * d)).containsExactly(Arrays.copyOfRange(w, 0, d));
      assertThat(Arrays.copyOfRange(avg, row * d, (row + 1) * d)).containsExactly(Arrays.copyOfRange(avg, 0, d));
      assertThat(Arrays.copyOfRange(m, row * d, (row + 1) * d)).containsOnly(0f);
      assertThat(Arrays.copyOfRange(trainer.optimizer().secondMoments().get("emb.item"), row * d, (row + 1) * d))
          .containsOnly(0f);
    }
  }
}
