package io.hiformer.localkafka;

import org.testcontainers.kafka.KafkaContainer;

/** A broker in a container (needs a Docker engine); stop and start pause and resume it. */
final class ContainerKafka implements KafkaBroker {

  private final KafkaContainer container;

  private ContainerKafka(KafkaContainer container) {
    this.container = container;
  }

  static ContainerKafka launch() {
    KafkaContainer container = new KafkaContainer("apache/kafka:4.3.1");
    container.start();
    return new ContainerKafka(container);
  }

  @Override
  public String bootstrapServers() {
    return container.getBootstrapServers();
  }

  @Override
  public void stop() {
    container.getDockerClient().pauseContainerCmd(container.getContainerId()).exec();
  }

  @Override
  public void start() {
    container.getDockerClient().unpauseContainerCmd(container.getContainerId()).exec();
  }

  @Override
  public void close() {
    container.stop();
  }
}
