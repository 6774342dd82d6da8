/**
 * The example joiner, a Kafka Streams application (exactly once): joins {@code rank-log} with
 * {@code outcomes} by request id and writes one {@code TrainingExample} per returned candidate to
 * {@code examples} when its attribution window closes; unusable and late records go to the
 * dead-letter topic with the reason. Rules in {@code features/README.md}.
 *
 * <p>Entry points: {@link io.hiformer.features.joiner.ExampleJoiner#start} (its {@code Options},
 * {@code Deployment} and {@code Failover}) and {@link io.hiformer.features.joiner.JoinerCounts}.
 * {@link io.hiformer.features.joiner.RejectedRecordHandler} is public only because Kafka Streams
 * instantiates it by class name; the processor, its clock and its state types are package-private.
 */
package io.hiformer.features.joiner;
