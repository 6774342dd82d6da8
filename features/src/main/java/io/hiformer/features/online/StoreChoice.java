package io.hiformer.features.online;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * Which {@link OnlineStore} a ranker keeps: {@code memory} (the default: {@link FeatureStore}, at
 * most {@code maxEntitiesPerKind} per kind) or {@code rocksdb} ({@link RocksDbFeatureStore} in
 * {@code dir}, with a block cache of {@code cacheBytes}).
 */
public record StoreChoice(Kind kind, Path dir, long cacheBytes, int maxEntitiesPerKind) {

  /** The kinds of store, named in lower case on the command line. */
  public enum Kind {
    MEMORY,
    ROCKSDB;

    /** {@code memory} or {@code rocksdb}, in any case; fails naming the choices. */
    public static Kind parse(String name) {
      for (Kind k : values()) {
        if (k.name().equalsIgnoreCase(name.trim())) {
          return k;
        }
      }
      throw new IllegalArgumentException("--feature-store must be memory or rocksdb, got '" + name + "'");
    }

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public StoreChoice {
    Objects.requireNonNull(kind, "kind");
    if (kind == Kind.ROCKSDB && dir == null) {
      throw new IllegalArgumentException("--feature-store rocksdb needs --feature-store-dir DIR");
    }
    if (cacheBytes < 1) {
      throw new IllegalArgumentException("the feature store's block cache must be positive, got " + cacheBytes);
    }
    if (maxEntitiesPerKind < 1) {
      throw new IllegalArgumentException("--max-stored-entities must be positive, got " + maxEntitiesPerKind);
    }
  }

  /** The in-memory store with {@link FeatureStore#DEFAULT_MAX_ENTITIES}. */
  public static final StoreChoice DEFAULT = new StoreChoice(Kind.MEMORY, null,
      RocksDbFeatureStore.DEFAULT_CACHE_BYTES, FeatureStore.DEFAULT_MAX_ENTITIES);

  /**
   * Fails now, with a one-line {@link IllegalArgumentException}, where {@link #open} would fail
   * for reasons other than the schema: the directory cannot be created or written, or is in use.
   */
  public void check() {
    if (kind == Kind.ROCKSDB) {
      RocksDbFeatureStore.probe(dir);
    }
  }

  /** Opens the chosen store for {@code schema}. */
  public OnlineStore open(StoreSchema schema) {
    return switch (kind) {
      case MEMORY -> new FeatureStore(schema, maxEntitiesPerKind);
      case ROCKSDB -> RocksDbFeatureStore.open(dir, schema, cacheBytes);
    };
  }

  /** For start-up lines: {@code memory (at most N per kind)} or {@code rocksdb in DIR}. */
  public String describe() {
    return kind == Kind.MEMORY ? "memory (at most " + maxEntitiesPerKind + " users and as many items)"
        : "rocksdb in " + dir;
  }
}
