package io.hiformer.ranker;

import io.hiformer.features.FeatureSchema;
import io.hiformer.features.announce.AnnouncementListener;
import io.hiformer.features.kafka.TopicNames;
import io.hiformer.features.online.FeatureIngestor;
import io.hiformer.features.online.OnlineStore;
import io.hiformer.features.online.StoreSchema;
import io.hiformer.features.ranklog.RankLogWriter;
import io.hiformer.proto.EntityKind;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * What runs beside a {@link Ranker}'s server with Kafka: the followed model announcements, the
 * online feature store and its ingestion, and the rank-log writer (without Kafka, nothing).
 * Without a feature schema file the store holds the fields of the models served at start, so a
 * ranker waiting for its first model starts its store and rank log with that model.
 */
final class RankerKafka implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(RankerKafka.class.getName());

  private final AnnouncementListener listener;
  /** The store, its ingestion and the writer, once the models they need are served; null without Kafka. */
  private final CompletableFuture<Features> features;

  private RankerKafka(AnnouncementListener listener, CompletableFuture<Features> features) {
    this.listener = listener;
    this.features = features;
  }

  /** The online store, its ingestion and the rank-log writer, attached to one service. */
  private record Features(OnlineStore store, FeatureIngestor ingestor, RankLogWriter writer) {}

  static RankerKafka start(Ranker.Options o, RegistryWatcher watcher, PrintStream out) throws IOException {
    if (!o.kafka()) {
      return new RankerKafka(null, null);
    }
    o.store().check(); // a store directory in use or not writable: refused now, not a log line later
    TopicNames topics = o.topics();
    AnnouncementListener listener = watcher.follow(o.bootstrapServers(), topics.models());
    CompletableFuture<Features> features = (o.featureSchema() != null ? CompletableFuture.completedFuture(null)
        : watcher.serving()).thenApply(started -> {
          try {
            return features(o, watcher.service(), out);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
    if (features.isCompletedExceptionally()) {
      listener.close();
      try {
        features.join();
      } catch (CompletionException e) {
        if (e.getCause() instanceof UncheckedIOException u) {
          throw u.getCause();
        }
        throw e.getCause() instanceof RuntimeException re ? re : e;
      }
    }
    features.exceptionally(e -> {
      if (!(e instanceof CancellationException)) {
        LOG.log(System.Logger.Level.ERROR,
            "cannot start the feature store and rank log: " + (e.getCause() == null ? e : e.getCause()));
      }
      return null;
    });
    out.printf("following %s at %s%n", topics.models(), o.bootstrapServers());
    return new RankerKafka(listener, features);
  }

  private static Features features(Ranker.Options o, RankService service, PrintStream out) throws IOException {
    TopicNames topics = o.topics();
    OnlineStore store = o.store().open(storeSchema(o, service));
    store.bindTo(service.metrics().registry());
    service.useFeatures(store);
    FeatureIngestor ingestor = FeatureIngestor.start(FeatureIngestor.Settings.of(o.bootstrapServers(), topics), store,
        service.metrics().registry());
    RankLogWriter writer = RankLogWriter.start(o.bootstrapServers(), topics.rankLog(), o.rankLog());
    service.logTo(writer);
    out.printf("logging calls to %s at %s%n", topics.rankLog(), o.bootstrapServers());
    out.printf("features from %s and %s: users %s, items %s; store %s%n", topics.featuresUser(),
        topics.featuresItem(), store.schema().columns(EntityKind.ENTITY_KIND_USER),
        store.schema().columns(EntityKind.ENTITY_KIND_ITEM), o.store().describe());
    return new Features(store, ingestor, writer);
  }

  /** The feature schema file's fields, else those of every model the service starts with. */
  private static StoreSchema storeSchema(Ranker.Options o, RankService service) throws IOException {
    if (o.featureSchema() != null) {
      return StoreSchema.of(FeatureSchema.parse(Files.readString(o.featureSchema())).fields());
    }
    List<FeatureSchema.Field> fields = new ArrayList<>();
    service.arms().models().forEach(m -> fields.addAll(m.transforms().schemaFields()));
    return StoreSchema.of(fields);
  }

  /** Completes when health may say SERVING (the feature store has caught up); null: at once. */
  CompletionStage<?> ready() {
    if (features == null) {
      return null;
    }
    return features.thenCompose(f -> f == null ? CompletableFuture.completedFuture(null) : f.ingestor().whenCaughtUp());
  }

  @Override
  public void close() {
    if (listener == null) {
      return;
    }
    listener.close();
    if (!features.cancel(false) && !features.isCompletedExceptionally()) {
      Features f = features.join();
      if (f != null) {
        f.writer().close();
        f.ingestor().close();
        f.store().close();
      }
    }
  }
}
