package io.hiformer.ops;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.FeatureUpdates;
import io.hiformer.features.RawRecord;
import io.hiformer.features.data.RecordFiles;
import io.hiformer.features.online.FeaturePublisher;
import io.hiformer.features.kafka.KafkaTopics;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.proto.EntityKind;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.KafkaException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code hiformer features load}: one feature update per row of a CSV or TSV file. */
@Command(name = "load", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Publishes one FeatureUpdate per row of a CSV or TSV file (optionally .gz) to <prefix>features.user or"
            + " <prefix>features.item, keyed by the entity id, at --bootstrap-servers (default: localhost:9092).",
        "An update carries every column of the file that a schema field of that side reads (typed by the field's"
            + " kind); a missing cell deletes that column as of the event time. Creates the feature topics"
            + " (compacted) and the dead-letter topic when they do not exist.",
        "Exits 2 on a bad file or schema, more bad rows than --max-bad-rows, or updates Kafka did not take."})
final class FeaturesLoadCommand implements Callable<Integer> {

  /** The entity kinds a file can describe. */
  enum Entity {
    user(EntityKind.ENTITY_KIND_USER), item(EntityKind.ENTITY_KIND_ITEM);

    final EntityKind kind;

    Entity(EntityKind kind) {
      this.kind = kind;
    }
  }

  @Option(names = "--schema", required = true, paramLabel = "FILE", description = "feature schema (YAML)")
  Path schema;

  @Option(names = "--entity", required = true, description = "what the rows describe: ${COMPLETION-CANDIDATES}")
  Entity entity;

  @Option(names = "--file", required = true, paramLabel = "CSV", description = "the rows: .csv or .tsv, optionally .gz")
  Path file;

  /** Kafka; --bootstrap-servers defaults to {@link #LOCAL_KAFKA} here, as the command cannot run without it. */
  @Mixin
  KafkaOptions kafka = new KafkaOptions();

  private static final String LOCAL_KAFKA = "localhost:9092";

  @Option(names = "--id-column", paramLabel = "COLUMN",
      description = "column holding the entity id (default: user_id or item_id)")
  String idColumn;

  @Option(names = "--event-time-column", paramLabel = "COLUMN",
      description = "column holding each row's event time, in ms since the epoch or ISO-8601 (default: the load's"
          + " start time for every row, so a later row for the same id wins)")
  String eventTimeColumn;

  @Option(names = "--max-bad-rows", defaultValue = "0", paramLabel = "N",
      description = "skip and count up to N bad rows, then stop (default: ${DEFAULT-VALUE})")
  long maxBadRows;

  @Option(names = "--partitions", defaultValue = "1", paramLabel = "N",
      description = "partitions of the topics this command creates (with the broker's default replication;"
          + " default: ${DEFAULT-VALUE})")
  int partitions;

  @Override
  public Integer call() throws Exception {
    long start = System.nanoTime();
    long eventTime = System.currentTimeMillis();
    TopicNames topics = kafka.topics();
    String bootstrapServers = kafka.orDefault(LOCAL_KAFKA);
    String topic = topics.features(entity.kind);
    BadRows badRows = BadRows.tolerate(maxBadRows);
    long published = 0;
    try {
      if (partitions < 1) {
        throw new IllegalArgumentException("--partitions must be positive, got " + partitions);
      }
      FeatureSchema fields = FeatureSchema.parse(Files.readString(schema));
      FeatureUpdates updates = new FeatureUpdates(fields, entity.kind,
          idColumn != null ? idColumn : entity.name() + "_id", eventTimeColumn);
      Iterable<RawRecord> rows = RecordFiles.open(file, fields, badRows);
      try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
          AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000))) {
        KafkaTopics.ensure(admin, KafkaTopics.featureTopics(topics, partitions));
        KafkaTopics.awaitLeaders(admin, List.of(topic), Duration.ofSeconds(30));
      }
      System.out.printf("loading %s features %s from %s to %s%n", entity, updates.columns(), file, topic);
      try (FeaturePublisher publisher = new FeaturePublisher(bootstrapServers, topics)) {
        for (RawRecord row : rows) {
          try {
            publisher.send(updates.from(row, eventTime));
            published++;
          } catch (BadRowException e) {
            badRows.reject(e);
          }
        }
        publisher.flush();
      }
    } catch (BadRowException | IllegalArgumentException | IllegalStateException | UncheckedIOException | IOException
        | KafkaException e) {
      System.err.println("error: " + UserErrors.message(e));
      return 2;
    }
    System.out.printf("published %d %s updates to %s in %.1f s (%d bad rows skipped%s)%n", published, entity, topic,
        (System.nanoTime() - start) / 1e9, badRows.count(),
        badRows.first() == null ? "" : "; first: " + badRows.first().getMessage());
    return 0;
  }
}
