package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import io.hiformer.proto.TrainingExample;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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

/**
 * Training from the examples topic: the logged inputs, as the serving model's featurizer made
 * them, train exactly the model that training from the raw files with the same transforms does.
 */
class TrainFromTopicTest {
  static final String SCHEMA = """
      tasks:
        - {name: click, column: clicked}
      fields:
        - {name: user, kind: categorical, side: user}
        - {name: item, kind: categorical, side: item}
        - {name: hour, kind: categorical, side: context}
        - {name: tags, kind: bag, side: item}
        - {name: price, kind: dense, side: item, standardize: true}
      """;

  /** Clicks follow user group x item group x hour parity; no field alone predicts them. */
  static List<Map<String, String>> rows(int n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<Map<String, String>> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int user = rnd.nextInt(12);
      int item = rnd.nextInt(9);
      int hour = rnd.nextInt(4);
      boolean match = (user % 3 == item % 3) == (hour % 2 == 0);
      out.add(Map.of("user", "u" + user, "item", "i" + item, "hour", Integer.toString(hour),
          "tags", "t" + item % 4 + "|t" + (item + 1) % 4, "price", String.format("%.2f", rnd.nextGaussian() * 10 + 50),
          "clicked", rnd.nextDouble() < (match ? 0.8 : 0.15) ? "1" : "0"));
    }
    return out;
  }

  static void writeCsv(Path file, List<Map<String, String>> rows) throws Exception {
    List<String> lines = new ArrayList<>(List.of("user,item,hour,tags,price,clicked"));
    rows.forEach(r -> lines.add(String.join(",", r.get("user"), r.get("item"), r.get("hour"), r.get("tags"),
        r.get("price"), r.get("clicked"))));
    Files.write(file, lines);
  }

  /** What the ranker would have logged for each row, as the joiner emits it. */
  static List<TrainingExample> served(Transforms t, ModelConfig config, long version, List<Map<String, String>> rows) {
    Featurizer featurizer = new Featurizer(t);
    Batch batch = new Batch(config, 1);
    List<TrainingExample> out = new ArrayList<>();
    for (Map<String, String> row : rows) {
      batch.clear();
      Map<String, String> features = new java.util.HashMap<>(row);
      features.remove("clicked"); // serving has no label
      featurizer.add(RawRecord.of(features), batch);
      out.add(TrainingExample.newBuilder().setInputs(RankLogEntries.inputs(config, batch, 0))
          .addLabels(Float.parseFloat(row.get("clicked"))).addLabelMask(true)
          .setModelName("ctr").setModelVersion(version).setRequestId("r" + out.size()).build());
    }
    return out;
  }

  @Test
  void trainsOnTheServedInputsExactlyAsFromTheRawData(@TempDir Path dir) throws Exception {
    List<Map<String, String>> train = rows(3000, 1);
    List<Map<String, String>> valid = rows(1000, 2);
    Files.writeString(dir.resolve("schema.yaml"), SCHEMA);
    writeCsv(dir.resolve("train.csv"), train);
    writeCsv(dir.resolve("valid.csv"), valid);
    Trainer.Options options = new Trainer.Options(256, 3e-3, 0, new Dropout(0.1f, 0.1f, 0.1f, 0.1f),
        Adam.Settings.defaults(), 2, 5, 0);
    TrainJob.Spec files = new TrainJob.Spec("ctr", dir.resolve("schema.yaml"), dir, List.of("train.csv"),
        List.of("valid.csv"), List.of(), new TrainJob.Shape(8, 2, 1, 4, 4, 2, List.of(16), 1, true,
            ModelConfig.Variant.HIFORMER), options, 3, 3, 0, null);
    TrainJob.Outcome fromFiles = TrainJob.run(files, CpuKernels.scalar(), TrainingRunTest.quiet());

    // The serving model: v1 with the transforms fitted on the training data, v2 with other ones.
    Transforms transforms = Transforms.fit(FeatureSchema.parse(SCHEMA), train.stream().map(RawRecord::of).toList());
    ModelConfig config = TrainJob.config(files, transforms);
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    ModelRegistry.Version v1 = registry.publish("ctr", Parameters.initialize(config, 9),
        Map.of(Transforms.METADATA_KEY, transforms.toJson()), "{}");
    Transforms other = Transforms.fit(FeatureSchema.parse(SCHEMA), valid.stream().map(RawRecord::of).toList());
    registry.publish("ctr", Parameters.initialize(TrainJob.config(files, other), 9),
        Map.of(Transforms.METADATA_KEY, other.toJson()), "{}");

    try (KafkaBroker kafka = KafkaBroker.forTests();
        var producer = new KafkaProducer<>(Map.<String, Object>of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
            new StringSerializer(), new ByteArraySerializer())) {
      List<TrainingExample> trainExamples = served(transforms, config, 1, train);
      List<TrainingExample> validExamples = served(transforms, config, 1, valid);
      List<TrainingExample> foreign = served(other, TrainJob.config(files, other), 2, valid.subList(0, 20));
      long offset = 0;
      for (int i = 0; i < trainExamples.size(); i++) {
        if (i % 300 == 0) { // examples of v2, whose ids mean other values, in between
          producer.send(new ProducerRecord<>("examples", "v2", foreign.get(i / 300).toByteArray()));
          producer.send(new ProducerRecord<>("examples", "v7", trainExamples.get(i).toBuilder().setModelVersion(7)
              .build().toByteArray()));
          offset += 2;
        }
        producer.send(new ProducerRecord<>("examples", "r", trainExamples.get(i).toByteArray()));
        offset++;
      }
      for (TrainingExample e : validExamples) {
        producer.send(new ProducerRecord<>("examples", "r", e.toByteArray()));
      }
      producer.flush();

      TrainJob.ExamplesSpec topic = new TrainJob.ExamplesSpec("ctr", registry, v1, false, kafka.bootstrapServers(),
          "examples", new Bound.Beginning(), Bound.parse("0:" + offset), new Bound.End(), options, 3, 3, 0, null);
      TrainJob.Outcome fromTopic = TrainJob.run(topic, CpuKernels.scalar(), TrainingRunTest.quiet());

      for (Parameters.Tensor t : fromFiles.parameters().tensors()) {
        assertThat(fromTopic.parameters().get(t.name())).as(t.name()).containsExactly(t.data());
      }
      assertThat(fromTopic.report().get("valid")).isEqualTo(fromFiles.report().get("valid"));
      assertThat(fromTopic.metadata().get(Transforms.METADATA_KEY)).isEqualTo(transforms.toJson());
      assertThat(fromTopic.report().get("data").toString())
          .contains("from=0:0, to=0:" + offset + ", examples=3000").contains("examples=1000")
          .contains("skipped={ctr v2=10, ctr v7=10}");
      assertThat(fromTopic.lineageJson()).contains("\"base\":{").contains("\"topic\":\"examples\"");
      assertThat(ModelFile.load(registry.publish("ctr", fromTopic.parameters(), fromTopic.metadata(),
          fromTopic.lineageJson()).file()).parameters().config()).isEqualTo(config);

      // A later run with a cache directory: the first fills it, the second reads it (no Kafka
      // read needed for the examples), both train the same model and report the same skips.
      Path cacheDir = dir.resolve("cache");
      TrainJob.Pipeline cached = new TrainJob.Pipeline(cacheDir, TrainJob.Pipeline.DEFAULT_WINDOW, 2);
      TrainJob.Outcome first = TrainJob.run(topic, cached, CpuKernels.scalar(), TrainingRunTest.quiet());
      java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
      TrainJob.Outcome second = TrainJob.run(topic, cached, CpuKernels.scalar(),
          new TrainingRun.Progress(new java.io.PrintStream(log, true), false));
      assertThat(log.toString()).contains("train: 3,000 examples from the cache", "valid: 1,000 examples from the cache");
      for (Parameters.Tensor t : first.parameters().tensors()) {
        assertThat(second.parameters().get(t.name())).as(t.name()).containsExactly(t.data());
        assertThat(first.parameters().get(t.name())).as(t.name()).containsExactly(fromTopic.parameters().get(t.name()));
      }
      assertThat(second.report().get("data").toString()).contains("skipped={ctr v2=10, ctr v7=10}");

      // Evaluation from the topic range, streamed: the trainer's validation figures, through the serving path.
      var source = io.hiformer.training.evaluation.TopicSource.of(kafka.bootstrapServers(), "examples",
          Bound.parse("0:" + offset), new Bound.End(), config, io.hiformer.features.BadRows.none());
      assertThat(source.size()).isEqualTo(1000);
      var result = io.hiformer.training.evaluation.Evaluation.run(
          List.of(io.hiformer.features.VerifiedModel.load(registry, "ctr", "3")), source,
          io.hiformer.training.evaluation.Evaluation.Options.defaults(), CpuKernels.scalar(),
          io.hiformer.features.BadRows.none(), line -> { });
      assertThat(result.rows()).isEqualTo(1000);
      @SuppressWarnings("unchecked")
      double validAuc = (Double) ((Map<String, Object>) ((Map<String, Object>) fromTopic.report().get("valid"))
          .get("click")).get("auc");
      assertThat(result.overall().tasks().getFirst().versions().getFirst().metrics().get("auc"))
          .isCloseTo(validAuc, org.assertj.core.data.Offset.offset(1e-9));

      TrainJob.ExamplesSpec empty = new TrainJob.ExamplesSpec("ctr", registry, v1, false, kafka.bootstrapServers(),
          "examples", new Bound.End(), new Bound.End(), new Bound.End(), options, 3, 3, 0, null);
      assertThatThrownBy(() -> TrainJob.run(empty, CpuKernels.scalar(), TrainingRunTest.quiet()))
          .hasMessageStartingWith("no training examples of ctr with the transforms of v1 in examples from 0:");

      // The guards are the files' ones: a validation range without positives, and divergence, keep nothing.
      long validEnd = offset + validExamples.size();
      for (TrainingExample e : validExamples.subList(0, 300)) {
        producer.send(new ProducerRecord<>("examples", "r", e.toBuilder().setLabels(0, 0f).build().toByteArray()));
      }
      producer.flush();
      TrainJob.ExamplesSpec noPositives = new TrainJob.ExamplesSpec("ctr", registry, v1, false,
          kafka.bootstrapServers(), "examples", new Bound.Beginning(), Bound.parse("0:" + validEnd), new Bound.End(),
          options, 3, 3, 0, null);
      assertThatThrownBy(() -> TrainJob.run(noPositives, CpuKernels.scalar(), TrainingRunTest.quiet()))
          .isInstanceOf(TrainingFailedException.class)
          .hasMessageContaining("validation AUC is undefined for every task (click: no positive labels in 300");
      Trainer.Options huge = new Trainer.Options(256, 1e20, 0, Dropout.NONE, Adam.Settings.defaults(), 2, 5, 0);
      TrainJob.ExamplesSpec diverging = new TrainJob.ExamplesSpec("ctr", registry, v1, true,
          kafka.bootstrapServers(), "examples", new Bound.Beginning(), Bound.parse("0:" + offset),
          Bound.parse("0:" + validEnd), huge, 3, 3, 0, null);
      assertThatThrownBy(() -> TrainJob.run(diverging, CpuKernels.scalar(), TrainingRunTest.quiet()))
          .isInstanceOf(TrainingFailedException.class).hasMessageContaining("training diverged in epoch 1");
    }
  }
}
