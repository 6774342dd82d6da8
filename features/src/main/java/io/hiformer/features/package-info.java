/**
 * Raw data to model inputs, the one way for training, evaluation and serving: the feature schema,
 * the transforms fitted on training data and stored in the model file, and the featurizer.
 *
 * <p>Entry points: {@link io.hiformer.features.FeatureSchema#parse} (YAML; every key in {@code
 * features/README.md}), {@link io.hiformer.features.Transforms#fit} and {@link
 * io.hiformer.features.Transforms#fromJson} (the fitted transforms, stored under {@link
 * io.hiformer.features.Transforms#METADATA_KEY}), {@link io.hiformer.features.Featurizer} (a
 * {@link io.hiformer.features.RawRecord} to a row of a model {@code Batch}), {@link
 * io.hiformer.features.DenseValues} (the one rule for dense numbers at every boundary), {@link
 * io.hiformer.features.FeatureUpdates} (file rows to {@code FeatureUpdate}s) and bad-row handling
 * ({@link io.hiformer.features.BadRows}, {@link io.hiformer.features.BadRowException}). Parsing,
 * hashing, fitting and the per-field transforms are package-private.
 *
 * <p>Subpackages: {@code data} (data sources), {@code kafka} (topic names and creation), {@code
 * online} (the online feature store), {@code ranklog} (the rank-log writer), {@code joiner} (the
 * example joiner), {@code announce} (model announcements).
 */
package io.hiformer.features;
