package io.hiformer.training;

import io.hiformer.model.ModelRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The continuous trainer as a process of its own, for {@link FollowKillTest}: arguments
 * bootstrap servers, registry, checkpoint directory, publish-every count. SIGTERM stops it
 * gracefully (a last checkpoint); SIGKILL stops it anywhere.
 */
public final class FollowChild {
  private FollowChild() {}

  public static void main(String[] args) throws Exception {
    ModelRegistry registry = ModelRegistry.open(Path.of(args[1]));
    FollowTrainer trainer = FollowFixture.trainer(FollowFixture.spec(registry, args[0], Path.of(args[2]),
        PublishEvery.examples(Long.parseLong(args[3])), Duration.ofMillis(50), List.of()),
        new TrainingRun.Progress(System.out, false));
    AtomicBoolean stop = new AtomicBoolean();
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stop.set(true);
      try {
        done.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }));
    try {
      trainer.run(stop::get);
    } finally {
      done.countDown();
    }
  }
}
