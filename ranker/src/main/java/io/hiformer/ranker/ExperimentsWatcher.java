package io.hiformer.ranker;

import io.hiformer.model.ModelRegistry;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Loads an experiment file's arms from a registry and serves them again when the file's content
 * (SHA-256) changes; the file is re-read on every poll. A file that fails to parse, or whose models fail to load or lack a
 * scored task, is refused with a log line and the current arms keep serving.
 *
 * <p>Models are loaded once per version and shared by the arms that name it; an unchanged version
 * is reused across reloads. Models no longer served are closed on the next {@link
 * #reloadIfChanged()} (so calls in flight at the switch have a poll interval to drain) or by
 * {@link #close()}. Not thread-safe: call from one thread (e.g. a scheduled executor).
 */
public final class ExperimentsWatcher implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(ExperimentsWatcher.class.getName());

  private final Path file;
  private final ModelRegistry registry;
  private final String modelName;
  private final int threads;
  private final RankService.Options options;
  private RankService service;
  private byte[] lastHash;
  private final List<LoadedModel> retired = new ArrayList<>();

  /**
   * Reads {@code file} and loads its arms' versions of {@code modelName}; fails (IllegalArgumentException,
   * IOException or NoSuchElementException) when the file or a model is invalid.
   */
  public ExperimentsWatcher(Path file, ModelRegistry registry, String modelName, int threads,
      RankService.Options options) throws IOException {
    this.file = Objects.requireNonNull(file, "file");
    this.registry = Objects.requireNonNull(registry, "registry");
    this.modelName = Objects.requireNonNull(modelName, "modelName");
    this.threads = threads;
    this.options = Objects.requireNonNull(options, "options");
    byte[] bytes = Files.readAllBytes(file);
    RankService.Arms arms = load(Experiments.read(file), Map.of());
    this.service = new RankService(arms, options);
    this.lastHash = sha256(bytes);
  }

  /** The service serving the file's arms. */
  public RankService service() {
    return service;
  }

  /**
   * Re-reads the file if its modification time or content changed and, when it is valid, serves
   * its arms. Returns true when the arms were replaced; false when unchanged or refused (logged).
   */
  public boolean reloadIfChanged() {
    closeRetired();
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
    RankService.Arms next;
    try {
      Experiments e = Experiments.parse(new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
      Map<Long, LoadedModel> reuse = new HashMap<>();
      for (LoadedModel m : service.arms().models()) {
        reuse.put(m.version(), m);
      }
      next = load(e, reuse);
    } catch (IOException | RuntimeException e) {
      service.metrics().refused();
      LOG.log(Level.WARNING, "experiments " + file + " refused: " + e.getMessage() + "; keeping arms "
          + service.arms().assigner().names());
      return false;
    }
    RankService.Arms previous = service.setArms(next);
    var kept = next.models();
    for (LoadedModel m : previous.models()) {
      if (!kept.contains(m)) {
        retired.add(m);
      }
    }
    LOG.log(Level.INFO, "experiments " + file + " reloaded: arms " + next.assigner().names());
    return true;
  }

  private RankService.Arms load(Experiments e, Map<Long, LoadedModel> reuse) throws IOException {
    Map<Long, LoadedModel> loaded = new HashMap<>();
    List<LoadedModel> fresh = new ArrayList<>();
    try {
      List<RankService.ServedArm> arms = new ArrayList<>();
      for (Experiments.Arm a : e.arms()) {
        ModelRegistry.Version v = registry.resolve(modelName, a.model()).orElseThrow(() -> new IllegalArgumentException(
            "arm '" + a.name() + "': 'model' " + a.model() + " is not a version or alias of model '" + modelName + "'"));
        LoadedModel m = loaded.get(v.number());
        if (m == null) {
          m = reuse.get(v.number());
          if (m == null) {
            m = LoadedModel.load(registry, v, threads);
            fresh.add(m);
          }
          loaded.put(v.number(), m);
        }
        arms.add(new RankService.ServedArm(a.name(), m, a.score().formula(a.name(), m.parameters().config().tasks())));
      }
      return new RankService.Arms(new ArmAssigner(e), arms);
    } catch (IOException | RuntimeException ex) {
      fresh.forEach(LoadedModel::close);
      throw ex;
    }
  }

  private void closeRetired() {
    retired.forEach(LoadedModel::close);
    retired.clear();
  }

  /** Closes retired models and the ones currently served; call after the server has stopped. */
  @Override
  public void close() {
    closeRetired();
    service.arms().models().forEach(LoadedModel::close);
  }

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
