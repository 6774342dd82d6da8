package io.hiformer.features.online;

import io.hiformer.proto.EntityKind;
import io.hiformer.proto.FeatureUpdate;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;

/**
 * What a ranker reads features from and the {@link FeatureIngestor} writes them to: the newest
 * raw value per user or item and column, merged by last-writer-wins per column (see
 * {@code features/README.md}, "Online store"). Two kinds: {@link FeatureStore} in the heap (the
 * default, bounded with eviction) and {@link RocksDbFeatureStore} on a local disk (every entity,
 * resuming from its stored positions after a restart); {@link StoreChoice} opens either.
 *
 * <p>Reads are thread-safe. Writes ({@link #apply}, {@link #remove}, {@link #commit}) come from
 * one thread at a time; what they change is visible to reads after {@link #commit} at the latest.
 */
public interface OnlineStore extends MeterBinder, AutoCloseable {

  /** The columns held per kind. */
  StoreSchema schema();

  /** The stored features of user {@code id}, or null when the store does not hold it. */
  StoredEntity user(String id);

  /** The stored features of item {@code id}, or null when the store does not hold it. */
  StoredEntity item(String id);

  /**
   * Looks the first {@code count} of {@code ids} up as items, into {@code out[0, count)} (null where
   * not held): one lookup of a Rank call's candidates.
   */
  default void items(List<String> ids, int count, StoredEntity[] out) {
    for (int i = 0; i < count; i++) {
      out[i] = item(ids.get(i));
    }
  }

  /**
   * Validates and merges one update; returns null when applied (even if every value was older
   * than the stored one), else why it was rejected, having changed nothing.
   */
  Rejection apply(FeatureUpdate update);

  /** Forgets an entity, as a tombstone (null value) on a compacted topic asks. */
  void remove(EntityKind kind, String id);

  /**
   * Marks what was applied so far as read from the feature topics up to {@code positions} (the next
   * offset per partition) and makes it visible; a durable store writes both atomically.
   */
  default void commit(Map<TopicPartition, Long> positions) {}

  /** Whether what {@link #commit} writes survives a restart (then ingestion resumes from {@link #positions}). */
  default boolean durable() {
    return false;
  }

  /** The positions of the last {@link #commit} kept over a restart (empty: read from the beginning). */
  default Map<TopicPartition, Long> positions() {
    return Map.of();
  }

  /** Entities of {@code kind} held now. */
  long size(EntityKind kind);

  /** Releases what the store holds outside the heap; reads after it find nothing. */
  @Override
  default void close() {}
}
