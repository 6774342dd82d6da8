package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hiformer.localkafka.KafkaBroker;
import io.hiformer.model.ModelRegistry;
import io.hiformer.training.evaluation.Requirement;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The continuous trainer in this JVM against a real broker: publication cadence, gates and promotion. */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FollowTrainerTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  @Test
  void publishesEveryCountAndPromotesOnlyVersionsWhoseGatesPass() throws Exception {
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      FollowFixture.createTopic(kafka.bootstrapServers(), 2);
      FollowFixture.produce(kafka.bootstrapServers(), FollowFixture.examples(0, 3000, 11));

      // A gate no version can pass (AUC up by 1): every version is published, none promoted.
      ModelRegistry failing = FollowFixture.registry(dir.resolve("failing"));
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      FollowTrainer fail = FollowFixture.trainer(FollowFixture.spec(failing, kafka.bootstrapServers(),
          dir.resolve("failing-checkpoints"), PublishEvery.examples(800), Duration.ofSeconds(1),
          Requirement.parse("auc>=+1")), progress(log));
      followUntilCaughtUp(fail, 3000);

      FollowStats stats = fail.stats();
      long trained = stats.examplesTrained();
      assertThat(trained + stats.examplesHeldOut()).isEqualTo(3000);
      assertThat(stats.examplesHeldOut()).isBetween(150L, 450L);
      // 2,550 to 2,850 trained, a version every 800 to 831 of them: three.
      assertThat(stats.versionsPublished()).isEqualTo(3);
      assertThat(stats.versionsPromoted()).isZero();
      assertThat(stats.gates()).containsExactly(Map.entry(new FollowStats.Gate("fail", "auc>=+1"),
          stats.versionsPublished()));
      assertThat(failing.aliases(FollowFixture.MODEL)).containsEntry("production", 1L);
      assertThat(failing.versions(FollowFixture.MODEL)).hasSize((int) stats.versionsPublished() + 1);
      assertThat(log.toString(StandardCharsets.UTF_8)).contains("ctr v2 not promoted to production: gate auc>=+1 for"
          + " click:", "(v2 against v1 on ");
      // Each version's lineage: the base, and the offsets it trained since the previous one, at least 800
      // examples (a publication waits for the step that crosses the count: under one batch more).
      String previousTo = "0:0,1:0";
      for (ModelRegistry.Version v : failing.versions(FollowFixture.MODEL).subList(1, 4)) {
        JsonNode lineage = JSON.readTree(v.lineageJson());
        assertThat(lineage.at("/base/version").asLong()).isEqualTo(1);
        assertThat(lineage.at("/data/from").asText()).isEqualTo(previousTo);
        assertThat(lineage.at("/data/examples").asLong()).isBetween(800L, 831L);
        assertThat(lineage.at("/data/newest_example_time").asText()).isNotEmpty();
        previousTo = lineage.at("/data/to").asText();
      }

      // A gate every trained version passes: each is promoted, and the freshness is measured.
      ModelRegistry passing = FollowFixture.registry(dir.resolve("passing"));
      FollowTrainer pass = FollowFixture.trainer(FollowFixture.spec(passing, kafka.bootstrapServers(),
          dir.resolve("passing-checkpoints"), PublishEvery.examples(800), Duration.ofSeconds(1),
          Requirement.parse("auc>=-1")), progress(new ByteArrayOutputStream()));
      followUntilCaughtUp(pass, 3000);
      assertThat(pass.stats().versionsPromoted()).isEqualTo(pass.stats().versionsPublished()).isGreaterThanOrEqualTo(3);
      assertThat(pass.stats().gates()).containsOnlyKeys(new FollowStats.Gate("pass", ""));
      assertThat(passing.aliases(FollowFixture.MODEL)).containsEntry("production",
          passing.latest(FollowFixture.MODEL).orElseThrow().number());
      assertThat(pass.stats().freshnessSeconds()).isFinite().isGreaterThanOrEqualTo(0);
    }
  }

  @Test
  void resumesWhereItsCheckpointStopsAndRefusesADifferentRunOrADamagedCheckpoint() throws Exception {
    try (KafkaBroker kafka = KafkaBroker.forTests()) {
      FollowFixture.createTopic(kafka.bootstrapServers(), 1);
      FollowFixture.produce(kafka.bootstrapServers(), FollowFixture.examples(0, 1000, 3));
      ModelRegistry registry = FollowFixture.registry(dir.resolve("registry"));
      Path checkpoints = dir.resolve("checkpoints");
      FollowTrainer.Spec spec = FollowFixture.spec(registry, kafka.bootstrapServers(), checkpoints,
          PublishEvery.examples(100_000), Duration.ofMinutes(10), List.of());
      FollowTrainer first = FollowFixture.trainer(spec, progress(new ByteArrayOutputStream()));
      followUntilCaughtUp(first, 1000);
      assertThat(first.stats().checkpoints()).as("the checkpoint on stop").isEqualTo(1);

      // A second run trains only what was written since, and continues Adam's step count.
      FollowFixture.produce(kafka.bootstrapServers(), FollowFixture.examples(1000, 500, 4));
      ByteArrayOutputStream log = new ByteArrayOutputStream();
      FollowTrainer second = FollowFixture.trainer(spec, progress(log));
      followUntilCaughtUp(second, 500);
      assertThat(second.stats().examplesTrained() + second.stats().examplesHeldOut()).isEqualTo(500);
      assertThat(log.toString(StandardCharsets.UTF_8)).contains("resumed from", "offsets 0:1000",
          first.stats().steps() + " steps");
      assertThat(FollowCheckpoint.ledger(checkpoints)).extracting(FollowCheckpoint.Entry::from,
          FollowCheckpoint.Entry::to).containsExactly(org.assertj.core.groups.Tuple.tuple(0L, 1000L),
          org.assertj.core.groups.Tuple.tuple(1000L, 1500L));

      // Another holdout fraction would gate on examples the checkpoint's weights trained on: refused.
      FollowTrainer.Spec other = new FollowTrainer.Spec(registry, spec.name(), spec.base(), spec.alias(),
          spec.bootstrapServers(), spec.topic(), spec.from(), checkpoints, spec.trainer(), spec.publishEvery(),
          spec.checkpointEvery(), new Holdout(0.2, 400), spec.requirements(), spec.evaluation());
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> FollowFixture.trainer(other,
              progress(new ByteArrayOutputStream())).run(() -> true))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("was written by a different run: holdout (checkpoint 0.1, this run 0.2) differ");

      // A damaged generation is refused, not trained from.
      Path state = checkpoints.resolve(FollowCheckpoint.name(FollowCheckpoint.current(checkpoints)))
          .resolve(FollowCheckpoint.STATE);
      byte[] bytes = java.nio.file.Files.readAllBytes(state);
      bytes[bytes.length - 3] ^= 0x10;
      java.nio.file.Files.write(state, bytes);
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> FollowFixture.trainer(spec,
              progress(new ByteArrayOutputStream())).run(() -> true))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("fails its checksum");
    }
  }

  /** Runs {@code trainer} until it has accounted for {@code records} records, then stops it and waits. */
  static void followUntilCaughtUp(FollowTrainer trainer, long records) throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    CompletableFuture<Void> run = CompletableFuture.runAsync(() -> {
      try {
        trainer.run(stop::get);
      } catch (Exception e) {
        throw new java.util.concurrent.CompletionException(e);
      }
    });
    FollowStats s = trainer.stats();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (s.examplesTrained() + s.examplesHeldOut() + s.examplesSkipped() < records && !run.isDone()
        && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    stop.set(true);
    run.get(60, TimeUnit.SECONDS);
  }

  static TrainingRun.Progress progress(ByteArrayOutputStream log) {
    return new TrainingRun.Progress(new PrintStream(log, true, StandardCharsets.UTF_8), false);
  }
}
