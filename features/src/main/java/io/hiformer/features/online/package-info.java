/**
 * The online feature store: the newest raw value per user or item and column, kept up to date from
 * {@code features.user} and {@code features.item} on every ranker; malformed records go to
 * {@code features.dlq}. Semantics in {@code features/README.md}, "Online store".
 *
 * <p>Entry points: {@link io.hiformer.features.online.StoreSchema} (what the store holds, from a
 * schema), {@link io.hiformer.features.online.FeatureStore} (reads: a {@link
 * io.hiformer.features.online.StoredEntity} snapshot per entity), {@link
 * io.hiformer.features.online.FeatureIngestor#start} (fills it from Kafka) and {@link
 * io.hiformer.features.online.FeaturePublisher} (writes updates, for {@code features load}). Why
 * a record was refused: {@link io.hiformer.features.online.Rejection}. The ingestion stages,
 * tables, dead letters and meters are package-private.
 */
package io.hiformer.features.online;
