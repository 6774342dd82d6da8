/**
 * A real Kafka broker for tests and the demo, never for production: main code uses it only in
 * {@code hiformer demo} (docs/architecture.md, rule 3).
 *
 * <p>Entry points: {@link io.hiformer.localkafka.KafkaBroker#forTests()}, the broker tests use (a
 * {@link io.hiformer.localkafka.LocalKafka} in this JVM by default, a Testcontainers broker when
 * the system property {@code hiformer.kafka} is {@code testcontainers}), and {@link
 * io.hiformer.localkafka.LocalKafka} itself (one KRaft node on loopback ports).
 */
package io.hiformer.localkafka;
