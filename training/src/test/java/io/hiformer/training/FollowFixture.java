package io.hiformer.training;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.TrainingExample;
import io.hiformer.training.evaluation.Evaluation;
import io.hiformer.training.evaluation.Requirement;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** A small served model (v1, alias production) and its logged examples on a topic, for the continuous trainer's tests. */
final class FollowFixture {
  static final String MODEL = "ctr";
  static final String TOPIC = "examples";

  private FollowFixture() {}

  static Transforms transforms() {
    return Transforms.fit(FeatureSchema.parse(TrainFromTopicTest.SCHEMA),
        TrainFromTopicTest.rows(2000, 1).stream().map(RawRecord::of).toList());
  }

  static ModelConfig config(Transforms t) {
    TrainJob.Spec spec = new TrainJob.Spec(MODEL, Path.of("schema.yaml"), Path.of("."), List.of(), List.of(), List.of(),
        new TrainJob.Shape(8, 2, 1, 4, 4, 2, List.of(16), 1, true, ModelConfig.Variant.HIFORMER), null, 1, 1, 0, null);
    return TrainJob.config(spec, t);
  }

  /** A registry holding v1 (untrained) as production. */
  static ModelRegistry registry(Path dir) throws Exception {
    Transforms t = transforms();
    ModelRegistry registry = ModelRegistry.open(dir);
    ModelRegistry.Version v1 = registry.publish(MODEL, Parameters.initialize(config(t), 9),
        Map.of(Transforms.METADATA_KEY, t.toJson()), "{}");
    registry.setAlias(MODEL, "production", v1.number());
    return registry;
  }

  static void createTopic(String bootstrap, int partitions) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      admin.createTopics(List.of(new NewTopic(TOPIC, partitions, (short) 1))).all().get();
    }
  }

  /** Logged examples of v1 with request ids {@code r<first>..}, as the joiner emits them. */
  static List<TrainingExample> examples(int first, int n, long seed) {
    Transforms t = transforms();
    List<TrainingExample> served = TrainFromTopicTest.served(t, config(t), 1, TrainFromTopicTest.rows(n, seed));
    List<TrainingExample> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(served.get(i).toBuilder().setRequestId("r" + (first + i)).build());
    }
    return out;
  }

  /** Sends {@code examples}, keyed by request id, and waits for them. */
  static void produce(String bootstrap, List<TrainingExample> examples) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    try (var producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (TrainingExample e : examples) {
        producer.send(new ProducerRecord<>(TOPIC, e.getRequestId(), e.toByteArray()));
      }
      producer.flush();
    }
  }

  static Trainer.Options trainer() {
    return new Trainer.Options(32, 3e-3, 0, Dropout.NONE, Adam.Settings.defaults(), 1, 5, 0);
  }

  static FollowTrainer.Spec spec(ModelRegistry registry, String bootstrap, Path checkpoints, PublishEvery every,
      Duration checkpointEvery, List<Requirement> requirements) {
    return new FollowTrainer.Spec(registry, MODEL, "production", "production", bootstrap, TOPIC,
        new ExampleTopic.Bound.Beginning(), checkpoints, trainer(), every, checkpointEvery, new Holdout(0.1, 400),
        requirements, Evaluation.Options.defaults().withBootstrap(50).withThreads(1));
  }

  static FollowTrainer trainer(FollowTrainer.Spec spec, TrainingRun.Progress progress) {
    return new FollowTrainer(spec, CpuKernels.scalar(), progress);
  }
}
