package io.hiformer.training;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A training job's data workspace: its example cache and the cache files it has open. Closing it
 * unmaps them and, when the job had no cache directory of its own, deletes the temporary one.
 */
final class Workspace implements AutoCloseable {
  private final ExampleCache cache;
  private final boolean temporary;
  private final List<CachedExamples> open = new ArrayList<>();

  private Workspace(ExampleCache cache, boolean temporary) {
    this.cache = cache;
    this.temporary = temporary;
  }

  static Workspace open(TrainJob.Pipeline pipeline, TrainingRun.Progress progress) throws IOException {
    boolean temporary = pipeline.cacheDir() == null;
    Path dir = temporary ? Files.createTempDirectory("hiformer-cache-") : pipeline.cacheDir();
    return new Workspace(new ExampleCache(dir, pipeline.shuffleWindow(), progress.out()), temporary);
  }

  ExampleCache cache() {
    return cache;
  }

  /** Closes {@code examples} with this workspace. */
  CachedExamples add(CachedExamples examples) {
    open.add(examples);
    return examples;
  }

  @Override
  public void close() {
    open.forEach(CachedExamples::close);
    if (temporary) {
      try (Stream<Path> files = Files.walk(cache.dir())) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot delete the temporary cache " + cache.dir() + ": " + e.getMessage(), e);
      }
    }
  }
}
