package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.OpenVocabulary;
import io.hiformer.features.RawRecord;
import io.hiformer.features.Transforms;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.proto.TrainingExample;
import io.hiformer.training.evaluation.Evaluation;
import io.hiformer.training.evaluation.Requirement;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --follow} on a base with an open field: new ids join the vocabulary, kept across a
 * restart; the gates compare grown versions on logged examples.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FollowVocabularyTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  @Test
  void newIdsOfTheStreamJoinThePublishedVocabularyAndARestartKeepsIt() throws Exception {
    Transforms v1Transforms = Transforms.fit(FeatureSchema.parse(OpenVocabularyTrainingTest.SCHEMA),
        OpenVocabularyTrainingTest.rows(2000, 1, false).stream().map(RawRecord::of).toList());
    ModelConfig config = OpenVocabularyTrainingTest.config(v1Transforms);
    ModelRegistry registry = ModelRegistry.open(dir.resolve("registry"));
    ModelRegistry.Version v1 = registry.publish("ctr", Parameters.initialize(config, 3),
        Map.of(Transforms.METADATA_KEY, v1Transforms.toJson()), "{}");
    registry.setAlias("ctr", "production", v1.number());
    Path checkpoints = dir.resolve("checkpoints");

    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      FollowFixture.createTopic(kafka.bootstrapServers(), 1);
      // 'fresh' is launched after v1: v1 serves it as unknown.
      FollowFixture.produce(kafka.bootstrapServers(), OpenVocabularyTrainingTest.served(v1Transforms, config, 1,
          OpenVocabularyTrainingTest.rows(1500, 2, true)));
      FollowTrainer.Spec spec = new FollowTrainer.Spec(registry, "ctr", "production", "production",
          kafka.bootstrapServers(), FollowFixture.TOPIC, new ExampleTopic.Bound.Beginning(), checkpoints,
          new Trainer.Options(64, 1e-2, 0, Dropout.NONE, Adam.Settings.defaults(), 1, 5, 0), PublishEvery.examples(600),
          Duration.ofMinutes(10), new Holdout(0.1, 200), Requirement.parse("auc>=-1"),
          Evaluation.Options.defaults().withBootstrap(50).withThreads(1));

      FollowTrainer first = new FollowTrainer(spec, CpuKernels.scalar(), quiet());
      FollowTrainerTest.followUntilCaughtUp(first, 1500);
      assertThat(first.stats().examplesSkipped()).isZero();
      // The gates compare a grown version with the alias's on the held-out logged examples (each looks the
      // item up in its own vocabulary): every version passes this one and is promoted.
      assertThat(first.stats().gates()).containsOnlyKeys(new FollowStats.Gate("pass", ""));
      assertThat(first.stats().versionsPromoted()).isEqualTo(first.stats().versionsPublished()).isPositive();
      ModelRegistry.Version published = registry.latest("ctr").orElseThrow();
      assertThat(published.number()).isGreaterThan(v1.number());
      List<String> grown = vocabulary(published, 1);
      assertThat(grown).contains("fresh");
      int freshRow = grown.indexOf("fresh") + 1;
      assertThat(first.stats().vocabularies()).extracting(OpenVocabulary.Stats::field, OpenVocabulary.Stats::admitted)
          .containsExactly(org.assertj.core.groups.Tuple.tuple("item", 1L));
      // The checkpoint holds the grown vocabulary.
      Path gen = checkpoints.resolve(FollowCheckpoint.name(FollowCheckpoint.current(checkpoints)));
      assertThat(Files.readString(gen.resolve(FollowCheckpoint.VOCABULARY))).contains("\"fresh\"");

      // Then 'later' is launched, and the examples are served by the trainer's own version (other open
      // vocabularies, same fixed fields): they are trained on, not skipped.
      Transforms served = Transforms.fromJson(ModelFile.load(published.file()).metadata().get(Transforms.METADATA_KEY));
      List<Map<String, String>> more = new ArrayList<>();
      for (Map<String, String> row : OpenVocabularyTrainingTest.rows(1500, 3, true)) {
        Map<String, String> r = new HashMap<>(row);
        if (r.get("item_id").equals("fresh") && more.size() % 2 == 0) {
          r.put("item_id", "later");
        }
        more.add(r);
      }
      List<TrainingExample> second = OpenVocabularyTrainingTest.served(served, config, published.number(), more);
      FollowFixture.produce(kafka.bootstrapServers(), second);
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      FollowTrainer resumed = new FollowTrainer(spec, CpuKernels.scalar(), FollowTrainerTest.progress(log));
      FollowTrainerTest.followUntilCaughtUp(resumed, 1500);
      assertThat(log.toString(StandardCharsets.UTF_8)).contains("resumed from");
      assertThat(resumed.stats().examplesSkipped()).isZero();
      assertThat(resumed.stats().gates()).containsOnlyKeys(new FollowStats.Gate("pass", ""));
      assertThat(resumed.stats().examplesTrained() + resumed.stats().examplesHeldOut()).isEqualTo(1500);
      // The restored vocabulary: 'fresh' keeps its row, 'later' is new, the counts go on from the first run's.
      List<String> after = vocabulary(registry.latest("ctr").orElseThrow(), 1);
      assertThat(after).contains("later");
      assertThat(after.indexOf("fresh") + 1).isEqualTo(freshRow);
      assertThat(resumed.stats().vocabularies()).extracting(OpenVocabulary.Stats::admitted).containsExactly(2L);
      // Its example clock counts every trained example of both runs once: the restored state went on.
      long trained = first.stats().examplesTrained() + resumed.stats().examplesTrained();
      Path last = checkpoints.resolve(FollowCheckpoint.name(FollowCheckpoint.current(checkpoints)));
      assertThat(java.util.regex.Pattern.compile("\"clock\":(\\d+)").matcher(
              Files.readString(last.resolve(FollowCheckpoint.VOCABULARY))).results().map(m -> m.group(1)).toList())
          .isNotEmpty().containsOnly(Long.toString(trained));
      assertThat(FollowCheckpoint.ledger(checkpoints).stream().mapToLong(FollowCheckpoint.Entry::trained).sum()
          + FollowCheckpoint.ledger(checkpoints).stream().mapToLong(FollowCheckpoint.Entry::heldOut).sum())
          .isEqualTo(3000);
    }
  }

  /** The vocabulary of field {@code field} that {@code v}'s model file stores (row i + 1 for entry i). */
  private static List<String> vocabulary(ModelRegistry.Version v, int field) throws Exception {
    JsonNode f = JSON.readTree(ModelFile.load(v.file()).metadata().get(Transforms.METADATA_KEY)).get("fields")
        .get(field);
    List<String> out = new ArrayList<>();
    f.get("vocabulary").forEach(x -> out.add(x.asText()));
    return out;
  }

  private static TrainingRun.Progress quiet() {
    return FollowTrainerTest.progress(new ByteArrayOutputStream());
  }
}
