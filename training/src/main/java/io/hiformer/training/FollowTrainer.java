package io.hiformer.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import io.hiformer.features.BadRows;
import io.hiformer.features.Transforms;
import io.hiformer.features.VerifiedModel;
import io.hiformer.features.data.ExampleRows;
import io.hiformer.features.data.ExampleTopic;
import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.model.Parameters;
import io.hiformer.model.SafeTensors;
import io.hiformer.proto.TrainingExample;
import io.hiformer.training.evaluation.EvalRow;
import io.hiformer.training.evaluation.EvalSource;
import io.hiformer.training.evaluation.Evaluation;
import io.hiformer.training.evaluation.EvaluationResult;
import io.hiformer.training.evaluation.Requirement;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * {@code train --follow}: trains without end on the examples topic, in the stream's order, one
 * step per batch, weights and Adam's state carried on from step to step. Every
 * {@link Spec#checkpointEvery} it commits a checkpoint generation ({@link FollowCheckpoint}):
 * weights, optimiser state, the offsets up to which every record is accounted for, the held-out
 * slice and the vocabulary state. Every {@link Spec#publishEvery} it publishes a version, gates it
 * against the alias's version on the held-out slice ({@link Holdout}) with the {@code --require}
 * gates of {@code evaluate}, and moves the alias only when every gate passes.
 *
 * <p>Exactly once: a record's offset counts as consumed only when the step that trained it (or,
 * for held-out and skipped records, the next step or idle moment) has run, and a checkpoint holds
 * the weights and offsets of one such moment. Killed anywhere, the trainer resumes from the last
 * committed generation: it seeks to that generation's offsets and trains from there, so every
 * record is in exactly one committed generation's range. The ledger ({@link FollowCheckpoint#ledger})
 * shows it.
 */
public final class FollowTrainer {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration POLL = Duration.ofMillis(200);
  private static final Duration LAG_EVERY = Duration.ofSeconds(1);
  /** Bad or foreign records named in the log before the trainer only counts them. */
  private static final int LOGGED_SKIPS = 10;

  /**
   * What to follow and how. {@code base} (an alias or version) gives the config, transforms and
   * initial weights on the first start; a resumed run keeps the base its checkpoint names.
   * {@code from} is where the first start reads from. Gates compare each version with
   * {@code alias}'s version (moved on a pass); no requirements promote every version.
   */
  public record Spec(ModelRegistry registry, String name, String base, String alias, String bootstrapServers,
      String topic, ExampleTopic.Bound from, Path checkpoints, Trainer.Options trainer, PublishEvery publishEvery,
      Duration checkpointEvery, Holdout holdout, List<Requirement> requirements, Evaluation.Options evaluation) {
    public Spec {
      requirements = List.copyOf(requirements);
      if (checkpointEvery.isNegative() || checkpointEvery.isZero()) {
        throw new IllegalArgumentException("checkpoint every must be positive, got " + checkpointEvery);
      }
    }
  }

  /** Moves {@code alias} to a version that passed its gates (the command checks it as a ranker would first). */
  public interface Promoter {
    void promote(ModelRegistry.Version version, String alias) throws IOException;
  }

  private final Spec spec;
  private final CpuKernels kernels;
  private final TrainingRun.Progress progress;
  private final FollowStats stats = new FollowStats();
  private FollowVocabulary vocabulary = FollowVocabulary.NONE;
  private Promoter promoter;
  private Consumer<ModelRegistry.Version> onPublished = v -> { };

  // The run's state; the committed part is what a checkpoint holds.
  private ModelRegistry.Version base;
  private String transforms;
  private ModelConfig config;
  private Trainer trainer;
  private ExampleRows rows;
  private Batch batch;
  private Batch scratch;
  private TrainJob.SameTransforms select;
  private final Map<Integer, Long> committed = new TreeMap<>();
  private final Map<Integer, Long> pendingEnd = new TreeMap<>();
  private final Map<Integer, long[]> pending = new TreeMap<>();   // trained, held out, skipped
  private final Map<Integer, long[]> interval = new TreeMap<>();  // the same, since the last generation
  private final Map<Integer, Long> intervalFrom = new TreeMap<>();
  private final ArrayDeque<TrainingExample> holdout = new ArrayDeque<>();
  private final List<TrainingExample> pendingHeld = new ArrayList<>();
  private long pendingNewest;
  private long generation = -1;
  private long examplesTotal;
  private long sincePublish;
  private long lastPublishMillis;
  private long lastVersion;
  private Map<Integer, Long> publishedTo = new TreeMap<>();
  private long newestTrained;
  private boolean dirty;
  private long lastCheckpointNanos;
  private long loggedSkips;
  private Map<String, String> identity;

  public FollowTrainer(Spec spec, CpuKernels kernels, TrainingRun.Progress progress) {
    this.spec = spec;
    this.kernels = kernels;
    this.progress = progress;
    this.promoter = (v, alias) -> spec.registry().setAlias(spec.name(), alias, v.number());
  }

  /** The vocabulary hook (default {@link FollowVocabulary#NONE}). */
  public FollowTrainer vocabulary(FollowVocabulary v) {
    this.vocabulary = v;
    return this;
  }

  /** How a version that passed its gates becomes the alias (default: the registry's alias, unchecked). */
  public FollowTrainer promoter(Promoter p) {
    this.promoter = p;
    return this;
  }

  /** Told of each version published (e.g. to announce it); its failures are logged, not fatal. */
  public FollowTrainer onPublished(Consumer<ModelRegistry.Version> c) {
    this.onPublished = c;
    return this;
  }

  public FollowStats stats() {
    return stats;
  }

  /**
   * Trains until {@code stop} says so (checked between polls, at most {@code 200 ms} apart), then
   * commits a last generation (a partly filled batch is trained first; one left when nothing needs
   * committing is read again after a restart). When the base has open fields and no
   * {@link #vocabulary} is attached, their vocabularies grow from the trained examples. Throws {@link TrainingFailedException} when a step diverges (the last
   * generation stays committed) and IllegalArgumentException or IllegalStateException for a
   * base, topic or checkpoint that does not fit.
   */
  public void run(BooleanSupplier stop) throws IOException {
    try (Checkpoint.Lock lock = Checkpoint.lock(spec.checkpoints())) {
      FollowCheckpoint.Saved saved = FollowCheckpoint.read(spec.checkpoints());
      base = saved == null
          ? spec.registry().resolve(spec.name(), spec.base()).orElseThrow(() -> new IllegalArgumentException(
              "model '" + spec.name() + "' in " + spec.registry().root() + " has no version or alias '" + spec.base()
                  + "' to start from"))
          : spec.registry().version(spec.name(), Long.parseLong(saved.meta().get("base_version")));
      ModelFile.Loaded loaded = spec.registry().verify(base);
      transforms = loaded.metadata().get(Transforms.METADATA_KEY);
      if (transforms == null) {
        throw new IllegalArgumentException("base model " + base.model() + " v" + base.number() + " has no '"
            + Transforms.METADATA_KEY + "' metadata; it cannot name the examples' features");
      }
      config = loaded.parameters().config();
      // What a resumed run must share with the checkpoint: the model, what its ids mean, the stream and
      // which of its examples are held out, and whether there is a moving average to restore. Trainer
      // options (learning rate, batch size, threads...) may change between restarts.
      identity = new LinkedHashMap<>();
      identity.put("mode", "follow");
      identity.put("config", config.toJson());
      identity.put("transforms", transforms);
      identity.put("topic", spec.topic());
      identity.put("holdout", Double.toString(spec.holdout().fraction()));
      identity.put("ema", Boolean.toString(spec.trainer().ema() > 0));
      try (Trainer t = new Trainer(loaded.parameters().copy(), spec.trainer(), kernels);
          KafkaConsumer<byte[], byte[]> consumer = consumer()) {
        trainer = t;
        Transforms parsed = Transforms.fromJson(transforms);
        if (vocabulary == FollowVocabulary.NONE && parsed.hasOpenFields()) {
          vocabulary = new OpenFollowVocabulary(parsed);
        }
        batch = new Batch(config, spec.trainer().batchSize());
        scratch = new Batch(config, 1);
        // Accepts examples of the trainer's own later versions: they differ from the base in open vocabularies only.
        select = new TrainJob.SameTransforms(spec.registry(), base, transforms, parsed);
        if (saved != null) {
          restore(saved);
        }
        rows = vocabulary.rows(config);
        stats.vocabularies = vocabulary.stats();
        assign(consumer, saved == null);
        loop(consumer, stop);
      } finally {
        stats.running = false;
      }
    }
  }

  private void restore(FollowCheckpoint.Saved saved) {
    Path path = spec.checkpoints().resolve(FollowCheckpoint.name(saved.generation()));
    Checkpoint.requireSameRun(path, saved.meta(), identity);
    Map<String, String> m = saved.meta();
    try {
      Checkpoint.fill(saved.state(), "param.", trainer.parameters());
      Checkpoint.fill(saved.state(), "adam.m.", trainer.optimizer().firstMoments());
      Checkpoint.fill(saved.state(), "adam.v.", trainer.optimizer().secondMoments());
      if (trainer.evaluationParameters() != trainer.parameters()) {
        Checkpoint.fill(saved.state(), "ema.", trainer.evaluationParameters());
      }
      trainer.optimizer().restore(Long.parseLong(m.get("adam_steps")), Double.parseDouble(m.get("adam_decay_product")));
      committed.putAll(offsets(m.get("offsets")));
      publishedTo = new TreeMap<>(offsets(m.get("published_to")));
      examplesTotal = Long.parseLong(m.get("examples_trained"));
      sincePublish = Long.parseLong(m.get("examples_since_publish"));
      lastPublishMillis = Long.parseLong(m.get("last_publish_ms"));
      lastVersion = Long.parseLong(m.get("last_version"));
      newestTrained = Long.parseLong(m.get("newest_trained_ms"));
    } catch (RuntimeException e) {
      throw new IllegalStateException("checkpoint " + path + " does not fit this run (" + e.getMessage()
          + "); delete the checkpoint directory to start over");
    }
    generation = saved.generation();
    holdout.addAll(saved.holdout());
    vocabulary.restore(saved.vocabulary());
    progress.line(String.format("resumed from %s: %,d examples trained, %d steps, offsets %s", path, examplesTotal,
        trainer.optimizer().steps(), new ExampleTopic.Bound.Offsets(committed)));
  }

  private KafkaConsumer<byte[], byte[]> consumer() {
    return new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, spec.bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none",
        ConsumerConfig.CLIENT_ID_CONFIG, "hiformer-follow-trainer"),
        new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  /** Assigns every partition and seeks to the committed offsets (first start: {@code from}; new partitions: their beginning). */
  private void assign(KafkaConsumer<byte[], byte[]> consumer, boolean first) {
    List<PartitionInfo> infos = consumer.partitionsFor(spec.topic(), Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) {
      throw new IllegalArgumentException("topic " + spec.topic() + " does not exist");
    }
    List<TopicPartition> partitions = infos.stream().map(p -> new TopicPartition(spec.topic(), p.partition()))
        .sorted(java.util.Comparator.comparingInt(TopicPartition::partition)).toList();
    if (first) {
      committed.putAll(ExampleTopic.resolve(spec.bootstrapServers(), spec.topic(), spec.from(),
          new ExampleTopic.Bound.End()).from().offsets());
      publishedTo = new TreeMap<>(committed);
      lastPublishMillis = System.currentTimeMillis();
    }
    Map<TopicPartition, Long> beginning = consumer.beginningOffsets(partitions);
    consumer.assign(partitions);
    for (TopicPartition tp : partitions) {
      long at = committed.computeIfAbsent(tp.partition(), p -> beginning.get(tp));
      if (at < beginning.get(tp)) {
        throw new IllegalStateException("partition " + tp + " starts at offset " + beginning.get(tp) + " but the"
            + " checkpoint resumes at " + at + ": retention deleted records never trained on");
      }
      consumer.seek(tp, at);
    }
    pendingEnd.putAll(committed);
    intervalFrom.putAll(committed);
    publishedTo.keySet().retainAll(committed.keySet());
    committed.forEach(publishedTo::putIfAbsent);
    progress.line(String.format("following %s from %s: publish every %s, checkpoint every %s, holdout %s, gates %s",
        spec.topic(), new ExampleTopic.Bound.Offsets(committed), spec.publishEvery(), spec.checkpointEvery(),
        spec.holdout(), spec.requirements().isEmpty() ? "none" : spec.requirements().stream()
            .map(Requirement::text).toList()));
  }

  private void loop(KafkaConsumer<byte[], byte[]> consumer, BooleanSupplier stop) throws IOException {
    stats.running = true;
    lastCheckpointNanos = System.nanoTime();
    long lastLag = 0;
    while (!stop.getAsBoolean()) {
      ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
      for (ConsumerRecord<byte[], byte[]> r : records) {
        take(r);
      }
      if (records.isEmpty()) {
        if (batch.size() > 0) {
          step(); // nothing more for now: train what there is rather than wait
        } else if (!pending.isEmpty()) {
          commitPending();
        }
      } else {
        stats.lastProgressMillis = System.currentTimeMillis();
      }
      if (spec.publishEvery().due(sincePublish, Duration.ofMillis(System.currentTimeMillis() - lastPublishMillis))) {
        publish();
      }
      if (dirty && System.nanoTime() - lastCheckpointNanos >= spec.checkpointEvery().toNanos()) {
        checkpoint();
      }
      if (System.nanoTime() - lastLag >= LAG_EVERY.toNanos()) {
        lastLag = System.nanoTime();
        lag(consumer);
      }
    }
    if (dirty) {
      checkpoint();
    }
    progress.line(String.format("stopped: %,d examples trained, %d versions published, %d promoted; committed %s",
        stats.examplesTrained(), stats.versionsPublished(), stats.versionsPromoted(),
        FollowCheckpoint.name(generation)));
  }

  /** One record: into the batch, the held-out slice, or skipped; a full batch trains at once. */
  private void take(ConsumerRecord<byte[], byte[]> r) throws IOException {
    int p = r.partition();
    pendingEnd.put(p, r.offset() + 1);
    long[] counts = pending.computeIfAbsent(p, k -> new long[3]);
    TrainingExample e = parse(r);
    if (e == null) {
      counts[2]++;
      return;
    }
    if (spec.holdout().test(e)) {
      if (fits(e, r)) {
        counts[1]++;
        pendingHeld.add(e);
      } else {
        counts[2]++;
      }
      return;
    }
    e = vocabulary.observe(e);
    try {
      rows.add(e, batch);
    } catch (IllegalArgumentException bad) {
      skip(r, bad.getMessage());
      counts[2]++;
      return;
    }
    counts[0]++;
    pendingNewest = Math.max(pendingNewest, r.timestamp());
    if (batch.size() == batch.capacity()) {
      step();
      if (spec.publishEvery().due(sincePublish, Duration.ofMillis(System.currentTimeMillis() - lastPublishMillis))) {
        publish();
      }
    }
  }

  private TrainingExample parse(ConsumerRecord<byte[], byte[]> r) {
    if (r.value() == null) {
      skip(r, "record has no value");
      return null;
    }
    TrainingExample e;
    try {
      e = TrainingExample.parseFrom(r.value());
    } catch (InvalidProtocolBufferException bad) {
      skip(r, "not a TrainingExample: " + bad.getMessage());
      return null;
    }
    if (!select.test(e)) {
      skip(r, "served by " + e.getModelName() + " v" + e.getModelVersion() + ", not with the transforms of "
          + base.model() + " v" + base.number());
      return null;
    }
    return e;
  }

  /** Whether a held-out example fits the model (so the gates can score it). */
  private boolean fits(TrainingExample e, ConsumerRecord<byte[], byte[]> r) {
    try {
      rows.add(e, scratch);
      return true;
    } catch (IllegalArgumentException bad) {
      skip(r, bad.getMessage());
      return false;
    } finally {
      scratch.clear();
    }
  }

  private void skip(ConsumerRecord<byte[], byte[]> r, String why) {
    if (loggedSkips++ < LOGGED_SKIPS) {
      progress.line("skipped " + r.topic() + "/" + r.partition() + "@" + r.offset() + ": " + why
          + (loggedSkips == LOGGED_SKIPS ? " (further skips are only counted)" : ""));
    }
  }

  private void step() {
    vocabulary.beforeStep(trainer);
    trainer.step(batch); // a diverging step throws before the weights change; the last generation stays
    batch.clear();
    stats.steps.incrementAndGet();
    stats.vocabularies = vocabulary.stats();
    commitPending();
  }

  /**
   * Before a checkpoint or a publication: trains a partly filled batch, so that the vocabulary
   * state holds exactly the committed examples' observations (a restart reads the rest again), and
   * initialises any row admitted since the last step, so that the weights fit the vocabularies.
   */
  private void settle() {
    if (batch.size() > 0) {
      step();
    } else {
      vocabulary.beforeStep(trainer);
    }
  }

  /** The records taken since the last step are accounted for: their offsets join the committed state. */
  private void commitPending() {
    long trained = 0;
    long held = 0;
    long skipped = 0;
    for (Map.Entry<Integer, long[]> e : pending.entrySet()) {
      long[] c = e.getValue();
      long[] sum = interval.computeIfAbsent(e.getKey(), k -> new long[3]);
      for (int i = 0; i < 3; i++) {
        sum[i] += c[i];
      }
      trained += c[0];
      held += c[1];
      skipped += c[2];
      committed.put(e.getKey(), pendingEnd.get(e.getKey()));
    }
    pending.clear();
    for (TrainingExample e : pendingHeld) {
      if (holdout.size() == spec.holdout().size()) {
        holdout.removeFirst();
      }
      holdout.addLast(e);
    }
    pendingHeld.clear();
    examplesTotal += trained;
    sincePublish += trained;
    newestTrained = Math.max(newestTrained, pendingNewest);
    stats.newestTrainedMillis = newestTrained;
    stats.trained.addAndGet(trained);
    stats.heldOut.addAndGet(held);
    stats.skipped.addAndGet(skipped);
    dirty = true;
  }

  private void lag(KafkaConsumer<byte[], byte[]> consumer) {
    try {
      List<TopicPartition> tps = committed.keySet().stream().map(p -> new TopicPartition(spec.topic(), p)).toList();
      Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(2));
      long lag = 0;
      for (TopicPartition tp : tps) {
        lag += Math.max(0, end.get(tp) - committed.get(tp.partition()));
      }
      stats.lag = lag;
    } catch (KafkaException e) {
      // The broker is away: keep the last figure; the consumer reconnects by itself.
    }
  }

  /** Commits a checkpoint generation of the committed state. */
  private void checkpoint() throws IOException {
    settle();
    trainer.optimizer().settle();
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    Checkpoint.add(tensors, "param.", trainer.parameters());
    Checkpoint.add(tensors, "adam.m.", trainer.optimizer().firstMoments());
    Checkpoint.add(tensors, "adam.v.", trainer.optimizer().secondMoments());
    if (trainer.evaluationParameters() != trainer.parameters()) {
      Checkpoint.add(tensors, "ema.", trainer.evaluationParameters());
    }
    Map<String, String> meta = new TreeMap<>();
    identity.forEach((k, v) -> meta.put(Checkpoint.RUN + k, v));
    meta.put("adam_steps", Long.toString(trainer.optimizer().steps()));
    meta.put("adam_decay_product", Double.toString(trainer.optimizer().decayProduct()));
    meta.put("offsets", new ExampleTopic.Bound.Offsets(committed).toString());
    meta.put("published_to", new ExampleTopic.Bound.Offsets(publishedTo).toString());
    meta.put("examples_trained", Long.toString(examplesTotal));
    meta.put("examples_since_publish", Long.toString(sincePublish));
    meta.put("last_publish_ms", Long.toString(lastPublishMillis));
    meta.put("last_version", Long.toString(lastVersion));
    meta.put("newest_trained_ms", Long.toString(newestTrained));
    meta.put("base_version", Long.toString(base.number()));
    meta.put("base_sha256", base.sha256());
    List<FollowCheckpoint.Entry> consumed = new ArrayList<>();
    long next = generation + 1;
    for (Map.Entry<Integer, Long> e : committed.entrySet()) {
      long from = intervalFrom.getOrDefault(e.getKey(), e.getValue());
      long[] c = interval.getOrDefault(e.getKey(), new long[3]);
      if (e.getValue() > from) {
        consumed.add(new FollowCheckpoint.Entry(next, e.getKey(), from, e.getValue(), c[0], c[1], c[2]));
      }
    }
    FollowCheckpoint.write(spec.checkpoints(), next, tensors, meta, List.copyOf(holdout), vocabulary.state(),
        consumed);
    generation = next;
    intervalFrom.putAll(committed);
    interval.clear();
    dirty = false;
    lastCheckpointNanos = System.nanoTime();
    stats.checkpoints.incrementAndGet();
  }

  /** Publishes the trained weights as the next version, gates it, and commits a generation. */
  private void publish() throws IOException {
    settle();
    trainer.optimizer().settle();
    Parameters weights = trainer.evaluationParameters();
    for (Parameters.Tensor t : weights.tensors()) {
      for (float v : t.data()) {
        if (!Float.isFinite(v)) {
          throw new TrainingFailedException("a weight of " + t.name() + " is not finite; nothing published");
        }
      }
    }
    Map<String, Object> follow = new LinkedHashMap<>();
    follow.put("topic", spec.topic());
    follow.put("bootstrap_servers", spec.bootstrapServers());
    follow.put("from", new ExampleTopic.Bound.Offsets(publishedTo).toString());
    follow.put("to", new ExampleTopic.Bound.Offsets(committed).toString());
    follow.put("examples", sincePublish);
    follow.put("examples_total", examplesTotal);
    follow.put("steps_total", trainer.optimizer().steps());
    follow.put("newest_example_time", newestTrained == 0 ? null : Instant.ofEpochMilli(newestTrained).toString());
    follow.put("previous_version", lastVersion == 0 ? null : lastVersion);
    follow.put("checkpoints", spec.checkpoints().toAbsolutePath().toString());
    follow.put("holdout", Map.of("fraction", spec.holdout().fraction(), "size", spec.holdout().size()));
    Map<String, Object> baseModel = new LinkedHashMap<>();
    baseModel.put("model", base.model());
    baseModel.put("version", base.number());
    baseModel.put("sha256", base.sha256());
    baseModel.put("warm_start", true);
    Map<String, Object> lineage = new LinkedHashMap<>();
    lineage.put("data", follow);
    lineage.put("base", baseModel);
    lineage.put("config", JSON.readTree(config.toJson()));
    lineage.put("trainer", spec.trainer().toString());
    lineage.put("source_commit", SourceCommit.find());
    ModelRegistry.Version v = spec.registry().publish(spec.name(), weights,
        Map.of(Transforms.METADATA_KEY, vocabulary.transforms(transforms)), JSON.writeValueAsString(lineage));
    stats.published.incrementAndGet();
    stats.lastPublishMillis = System.currentTimeMillis();
    progress.line(String.format("published %s v%d: %,d examples since v%s (offsets %s to %s)", v.model(), v.number(),
        sincePublish, lastVersion == 0 ? base.number() + " (base)" : lastVersion, follow.get("from"),
        follow.get("to")));
    lastVersion = v.number();
    lastPublishMillis = System.currentTimeMillis();
    sincePublish = 0;
    publishedTo = new TreeMap<>(committed);
    try {
      onPublished.accept(v);
    } catch (RuntimeException e) {
      progress.line("warning: after publishing v" + v.number() + ": " + e.getMessage());
    }
    gate(v, newestTrained);
    checkpoint(); // the publication is part of the committed state: a restart does not publish it again
  }

  /** Evaluates {@code v} against the alias's version on the held-out slice; promotes it when every gate passes. */
  private void gate(ModelRegistry.Version v, long newestMillis) {
    String reason = null;
    String detail = null;
    try {
      if (!spec.requirements().isEmpty()) {
        Optional<ModelRegistry.Version> current = spec.registry().resolve(spec.name(), spec.alias());
        if (current.isEmpty()) {
          reason = "no_baseline";
          detail = "alias " + spec.alias() + " points at no version to compare with";
        } else if (holdout.isEmpty()) {
          reason = "no_holdout";
          detail = "the held-out slice is empty";
        } else {
          List<VerifiedModel> models = List.of(VerifiedModel.load(spec.registry(), spec.name(),
              Long.toString(current.get().number())), VerifiedModel.load(spec.registry(), spec.name(),
              Long.toString(v.number())));
          EvaluationResult result = Evaluation.run(models, new HeldOut(List.copyOf(holdout)), spec.evaluation(),
              kernels, BadRows.tolerate(Long.MAX_VALUE), line -> { });
          List<String> failed = new ArrayList<>();
          for (Requirement r : spec.requirements()) {
            for (Requirement.Check c : r.check(result)) {
              if (!c.passed()) {
                reason = reason == null ? r.text() : reason;
                failed.add(String.format("%s for %s: %.6g", r.text(), c.task(), c.actual()));
              }
            }
          }
          detail = failed.isEmpty() ? null : "gate " + String.join("; ", failed) + " (v" + v.number() + " against v"
              + current.get().number() + " on " + holdout.size() + " held-out examples)";
        }
      }
    } catch (IOException | RuntimeException e) {
      reason = "evaluation_error";
      detail = "evaluation failed: " + e.getMessage();
    }
    if (reason == null) {
      try {
        promoter.promote(v, spec.alias());
      } catch (IOException | RuntimeException e) {
        reason = "promotion_error";
        detail = "promotion failed: " + e.getMessage();
      }
    }
    if (reason != null) {
      stats.gate("fail", reason);
      progress.line(String.format("%s v%d not promoted to %s: %s", v.model(), v.number(), spec.alias(), detail));
      return;
    }
    stats.gate("pass", "");
    long now = System.currentTimeMillis();
    stats.promoted.incrementAndGet();
    stats.lastPromotionMillis = now;
    if (newestMillis > 0) {
      stats.freshnessSeconds = (now - newestMillis) / 1000.0;
    }
    progress.line(String.format("%s v%d promoted to %s%s", v.model(), v.number(), spec.alias(),
        newestMillis > 0 ? String.format(" (%.1f s after its newest example)", (now - newestMillis) / 1000.0) : ""));
  }

  /** Offsets as {@code 0:12,1:40} (a checkpoint's), parsed. */
  private static Map<Integer, Long> offsets(String text) {
    Map<Integer, Long> out = new TreeMap<>();
    if (text == null || text.isEmpty()) {
      return out;
    }
    for (String part : text.split(",")) {
      String[] po = part.split(":");
      out.put(Integer.parseInt(po[0]), Long.parseLong(po[1]));
    }
    return out;
  }

  /** The held-out slice as rows to evaluate. */
  private record HeldOut(List<TrainingExample> examples) implements EvalSource {
    @Override
    public String description() {
      return examples.size() + " held-out examples";
    }

    @Override
    public long size() {
      return examples.size();
    }

    @Override
    public Iterator<EvalRow> iterator() {
      Iterator<TrainingExample> it = examples.iterator();
      int[] n = {0};
      return new Iterator<>() {
        @Override
        public boolean hasNext() {
          return it.hasNext();
        }

        @Override
        public EvalRow next() {
          return EvalRow.logged(it.next(), "holdout#" + ++n[0]);
        }
      };
    }
  }
}
