package io.hiformer.ranker;

import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Objects;

/**
 * Serves an experiment file's arms and serves them again when the file's content (SHA-256)
 * changes; the file is re-read on every {@link #reloadIfChanged()}. A file that fails to parse, or
 * whose models fail to load or lack a scored task, is refused with a log line and the current arms
 * keep serving.
 *
 * <p>The arms are held by a {@link RegistryWatcher} ({@link #models()}), which also follows the
 * aliases and {@code latest} they name. Versions already served are reused across reloads; models
 * no longer served are closed once the calls using them end. Not thread-safe: call
 * {@link #reloadIfChanged()} from one thread (e.g. a scheduled executor).
 */
final class ExperimentsWatcher implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(ExperimentsWatcher.class.getName());

  private final Path file;
  private final RegistryWatcher models;
  private byte[] lastHash;

  /**
   * Reads {@code file} and loads its arms' versions of {@code modelName}; fails (IllegalArgumentException,
   * IOException or NoSuchElementException) when the file or a model is invalid.
   */
  ExperimentsWatcher(Path file, ModelRegistry registry, String modelName, int threads,
      RankOptions options) throws IOException {
    this(file, registry, modelName, threads, ScoringBackend.CPU, options);
  }

  /** As above, each model scored as {@code scoring} says. */
  ExperimentsWatcher(Path file, ModelRegistry registry, String modelName, int threads, ScoringBackend scoring,
      RankOptions options) throws IOException {
    this.file = Objects.requireNonNull(file, "file");
    byte[] bytes = Files.readAllBytes(file);
    this.models = new RegistryWatcher(registry, modelName, Experiments.read(file), threads, scoring, options, false);
    this.lastHash = sha256(bytes);
  }

  /** The service serving the file's arms. */
  public RankService service() {
    return models.service();
  }

  /** The watcher holding the arms' models; {@link RegistryWatcher#start} it to follow new versions. */
  public RegistryWatcher models() {
    return models;
  }

  /**
   * Re-reads the file and, when its content changed and it is valid, serves its arms. Returns true
   * when the arms were replaced; false when unchanged or refused (logged).
   */
  public boolean reloadIfChanged() {
    RankService service = models.service();
    byte[] bytes;
    try {
      // Small file: read on every poll (modification times can be too coarse to show a rewrite).
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      service.metrics().refused();
      LOG.log(Level.WARNING, "experiments " + file + ": cannot read (" + e + "); keeping arms "
          + service.arms().assigner().names());
      return false;
    }
    byte[] hash = sha256(bytes);
    if (Arrays.equals(hash, lastHash)) {
      return false; // touched but unchanged
    }
    lastHash = hash;
    try {
      models.apply(Experiments.parse(new String(bytes, StandardCharsets.UTF_8)));
    } catch (IOException | RuntimeException e) {
      service.metrics().refused();
      LOG.log(Level.WARNING, "experiments " + file + " refused: " + e.getMessage() + "; keeping arms "
          + service.arms().assigner().names());
      return false;
    }
    LOG.log(Level.INFO, "experiments " + file + " reloaded: arms " + service.arms().assigner().names());
    return true;
  }

  /** Stops following the registry and gives up the served models; call after the server has stopped. */
  @Override
  public void close() {
    models.close();
  }

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
