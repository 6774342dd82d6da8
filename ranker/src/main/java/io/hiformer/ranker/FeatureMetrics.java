package io.hiformer.ranker;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts what Rank calls' features did not contribute as sent (see ranker/README.md, "Metrics"):
 * {@code hiformer_ignored_request_features_total{field,reason}}, request features no field read,
 * and {@code hiformer_unusable_stored_values_total{field}}, stored values read as missing because
 * they are not usable as floats. The {@code field} label is bounded: the model's columns, plus at
 * most {@link #MAX_UNKNOWN_NAMES} distinct unknown keys as clients sent them (cut to
 * {@link #MAX_NAME_LENGTH} characters), then {@value #OTHER} for any further one. Counters are
 * cached, so counting allocates nothing once a name was seen.
 */
final class FeatureMetrics implements RequestRows.FeatureNotes {
  static final int MAX_UNKNOWN_NAMES = 100;
  static final int MAX_NAME_LENGTH = 64;
  static final String OTHER = "_other";

  private final MeterRegistry registry;
  private final Map<RequestRows.Ignored, ConcurrentHashMap<String, Counter>> ignored =
      new EnumMap<>(RequestRows.Ignored.class);
  private final ConcurrentHashMap<String, Counter> unusable = new ConcurrentHashMap<>();

  FeatureMetrics(MeterRegistry registry) {
    this.registry = registry;
    for (RequestRows.Ignored reason : RequestRows.Ignored.values()) {
      ignored.put(reason, new ConcurrentHashMap<>());
    }
  }

  @Override
  public void ignored(String key, RequestRows.Ignored reason) {
    ConcurrentHashMap<String, Counter> byField = ignored.get(reason);
    Counter c = byField.get(key);
    if (c == null) {
      // Only unknown keys come from clients without bound; the others are the model's columns.
      String field = reason == RequestRows.Ignored.UNKNOWN_FIELD && byField.size() >= MAX_UNKNOWN_NAMES ? OTHER
          : key.length() > MAX_NAME_LENGTH ? key.substring(0, MAX_NAME_LENGTH) : key;
      c = byField.computeIfAbsent(field, f -> Counter.builder("hiformer.ignored.request.features")
          .description("Request features no model field read, by key (unknown keys beyond "
              + MAX_UNKNOWN_NAMES + " as " + OTHER + ") and reason")
          .tags("field", f, "reason", reason.tag())
          .register(registry));
    }
    c.increment();
  }

  @Override
  public void unusableStored(String field) {
    Counter c = unusable.get(field);
    if (c == null) {
      c = unusable.computeIfAbsent(field, f -> Counter.builder("hiformer.unusable.stored.values")
          .description("Stored feature values read as missing because they are not finite floats"
              + " (as stored or after the model's transform), by field")
          .tag("field", f)
          .register(registry));
    }
    c.increment();
  }
}
