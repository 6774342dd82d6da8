/**
 * Where examples come from: raw records from text files (CSV, TSV, libFM, optionally gzip) with
 * the schema's side tables joined on, files of logged {@code TrainingExample}s, and a range of the
 * {@code examples} topic; plus bounded-memory shuffling.
 *
 * <p>Entry points: {@link io.hiformer.features.data.RecordFiles} (text files), {@link
 * io.hiformer.features.data.Joins} (side tables), {@link io.hiformer.features.data.ExampleFiles}
 * and {@link io.hiformer.features.data.ExampleTopic} (logged examples, checked against a model
 * config by {@link io.hiformer.features.data.ExampleRows}) and {@link
 * io.hiformer.features.data.Shuffle}. The parsers and record types behind them are
 * package-private.
 */
package io.hiformer.features.data;
