package io.hiformer.model;

import java.nio.file.Path;

/**
 * Child process of {@link ModelRegistryCrashTest}: publishes a model file and, on reaching the
 * given stage, says so on stdout and waits to be killed.
 *
 * <p>Arguments: registry root, model name, model file, {@link ModelRegistry.Stage} name.
 */
final class PausingPublisher {
  static final String PAUSED = "paused at ";

  public static void main(String[] args) throws Exception {
    ModelRegistry registry = ModelRegistry.open(Path.of(args[0]));
    ModelRegistry.Stage pauseAt = ModelRegistry.Stage.valueOf(args[3]);
    registry.stageHook = stage -> {
      if (stage == pauseAt) {
        System.out.println(PAUSED + stage);
        System.out.flush();
        try {
          Thread.sleep(Long.MAX_VALUE);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    };
    registry.publish(args[1], Path.of(args[2]), "{\"by\": \"PausingPublisher\"}");
    System.out.println("published without pausing");
  }
}
