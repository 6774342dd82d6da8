package io.hiformer.training;

import io.hiformer.model.Parameters;
import io.hiformer.model.SafeTensors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Everything needed to continue a training run exactly where it stopped: weights, Adam's moments
 * and counters, the best weights so far and the early-stopping state. One safetensors file,
 * replaced atomically after each epoch, so a crash leaves the previous epoch's checkpoint.
 *
 * <p>A checkpoint is not trusted: it carries a SHA-256 over its tensors and metadata, checked on
 * restore, and the run's identity ({@code run.*} metadata: model config, every trainer option,
 * and what the caller adds such as transforms, data and patience); a resume whose identity differs
 * is refused, naming what differs. Restored weights must be finite.
 */
final class Checkpoint {
  public static final String FILE = "checkpoint.safetensors";
  /** The lock file that keeps a second trainer out of a checkpoint directory. */
  public static final String LOCK = "checkpoint.lock";
  static final String CHECKSUM = "sha256";
  static final String RUN = "run.";

  /**
   * Where the run stood after {@code epoch}: the best validation score and its epoch (0: the
   * initial model), and the initial model's validation log loss (the divergence guard's yardstick).
   */
  public record State(int epoch, double bestScore, int bestEpoch, int epochsWithoutGain, double initialLogloss) {}

  private Checkpoint() {}

  /**
   * What makes a run's result what it is, by name: the model config and every trainer option,
   * plus {@code extra} (transforms, data, patience...). Two runs with the same identity, data
   * order and epochs give the same weights.
   */
  public static Map<String, String> identity(Trainer.Options o, String configJson, Map<String, String> extra) {
    Map<String, String> id = new LinkedHashMap<>();
    id.put("config", configJson);
    id.put("batch_size", Integer.toString(o.batchSize()));
    id.put("lr", Double.toString(o.lr()));
    id.put("warmup", Integer.toString(o.warmupSteps()));
    id.put("dropout", o.dropout().toString());
    id.put("adam", o.adam().toString());
    id.put("threads", Integer.toString(o.threads()));
    id.put("seed", Long.toString(o.seed()));
    id.put("ema", Double.toString(o.ema()));
    id.putAll(extra);
    return id;
  }

  public static void write(Path dir, Trainer trainer, Parameters best, State state, Map<String, String> identity)
      throws IOException {
    Files.createDirectories(dir);
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    add(tensors, "param.", trainer.parameters());
    add(tensors, "adam.m.", trainer.optimizer().firstMoments());
    add(tensors, "adam.v.", trainer.optimizer().secondMoments());
    add(tensors, "best.", best);
    if (trainer.evaluationParameters() != trainer.parameters()) {
      add(tensors, "ema.", trainer.evaluationParameters());
    }
    Map<String, String> meta = new TreeMap<>();
    identity.forEach((k, v) -> meta.put(RUN + k, v));
    meta.put("epoch", Integer.toString(state.epoch()));
    meta.put("best_score", Double.toString(state.bestScore()));
    meta.put("best_epoch", Integer.toString(state.bestEpoch()));
    meta.put("epochs_without_gain", Integer.toString(state.epochsWithoutGain()));
    meta.put("initial_logloss", Double.toString(state.initialLogloss()));
    meta.put("adam_steps", Long.toString(trainer.optimizer().steps()));
    meta.put("adam_decay_product", Double.toString(trainer.optimizer().decayProduct()));
    meta.put(CHECKSUM, checksum(meta, tensors));
    new SafeTensors(meta, tensors).write(dir.resolve(FILE));
  }

  /** Whether {@code dir} holds a checkpoint to resume from. */
  public static boolean exists(Path dir) {
    return dir != null && Files.isRegularFile(dir.resolve(FILE));
  }

  /**
   * Restores {@code trainer} and {@code best} from the checkpoint in {@code dir}; returns the
   * state to continue from. Refuses ({@link IllegalStateException}) a checkpoint that is
   * unreadable, fails its checksum, holds non-finite weights, or was written by a run whose
   * {@code identity} differs, before changing anything.
   */
  public static State restore(Path dir, Trainer trainer, Parameters best, Map<String, String> identity)
      throws IOException {
    Path path = dir.resolve(FILE);
    SafeTensors file;
    Map<String, String> meta;
    try {
      file = SafeTensors.read(path);
      meta = new TreeMap<>(file.metadata());
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("checkpoint " + path + " is unreadable (" + e.getMessage()
          + "); delete it to start over");
    }
    String stored = meta.remove(CHECKSUM);
    if (stored == null || !stored.equals(checksum(meta, file.tensors()))) {
      throw new IllegalStateException("checkpoint " + path + (stored == null ? " has no checksum" : " fails its checksum")
          + ": it is damaged or was not written by this trainer; delete it to start over");
    }
    requireSameRun(path, meta, identity);
    requireFinite(path, file);
    try {
      fill(file, "param.", trainer.parameters());
      fill(file, "adam.m.", trainer.optimizer().firstMoments());
      fill(file, "adam.v.", trainer.optimizer().secondMoments());
      fill(file, "best.", best);
      if (trainer.evaluationParameters() != trainer.parameters()) {
        fill(file, "ema.", trainer.evaluationParameters());
      }
      trainer.optimizer().restore(Long.parseLong(meta.get("adam_steps")),
          Double.parseDouble(meta.get("adam_decay_product")));
      return new State(Integer.parseInt(meta.get("epoch")), Double.parseDouble(meta.get("best_score")),
          Integer.parseInt(meta.get("best_epoch")), Integer.parseInt(meta.get("epochs_without_gain")),
          Double.parseDouble(meta.get("initial_logloss")));
    } catch (RuntimeException e) {
      throw new IllegalStateException("checkpoint " + path + " does not fit this run (" + e.getMessage()
          + "); delete it to start over");
    }
  }

  /** Refuses a checkpoint whose run identity ({@code run.*} metadata) differs from {@code identity}, naming what differs. */
  static void requireSameRun(Path path, Map<String, String> meta, Map<String, String> identity) {
    List<String> differences = new ArrayList<>();
    for (String key : new TreeSet<>(union(identity.keySet(), meta))) {
      String was = meta.get(RUN + key);
      String now = identity.get(key);
      if (!java.util.Objects.equals(was, now)) {
        differences.add(was != null && now != null && was.length() <= 60 && now.length() <= 60
            ? key + " (checkpoint " + was + ", this run " + now + ")"
            : key);
      }
    }
    if (!differences.isEmpty()) {
      throw new IllegalStateException("checkpoint " + path + " was written by a different run: "
          + String.join(", ", differences) + " differ; resume with the same settings or use another --checkpoint-dir");
    }
  }

  /** Refuses a checkpoint holding a NaN or infinity. */
  static void requireFinite(Path path, SafeTensors file) {
    for (SafeTensors.Tensor t : file.tensors()) {
      for (float v : t.floats()) {
        if (!Float.isFinite(v)) {
          throw new IllegalStateException("checkpoint " + path + " holds a non-finite value in " + t.name()
              + "; delete it to start over");
        }
      }
    }
  }

  /**
   * Takes the directory's lock (creating the directory) so that no second trainer, in this process
   * or another, writes or resumes the same checkpoint; close it when the run ends.
   */
  public static Lock lock(Path dir) throws IOException {
    Files.createDirectories(dir);
    Path file = dir.resolve(LOCK);
    FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = channel.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      channel.close();
      throw new IllegalStateException("another trainer is using the checkpoint directory " + dir + " (it holds "
          + file + ")");
    }
    return new Lock(channel, lock);
  }

  /** A held checkpoint directory lock. */
  public static final class Lock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private Lock(FileChannel channel, FileLock lock) {
      this.channel = channel;
      this.lock = lock;
    }

    @Override
    public void close() throws IOException {
      try {
        lock.release();
      } finally {
        channel.close();
      }
    }
  }

  private static TreeSet<String> union(java.util.Set<String> now, Map<String, String> meta) {
    TreeSet<String> keys = new TreeSet<>(now);
    for (String k : meta.keySet()) {
      if (k.startsWith(RUN)) {
        keys.add(k.substring(RUN.length()));
      }
    }
    return keys;
  }

  /** SHA-256 over the sorted metadata and every tensor's name, shape and values, by name. */
  static String checksum(Map<String, String> sortedMeta, List<SafeTensors.Tensor> tensors) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      for (Map.Entry<String, String> e : sortedMeta.entrySet()) {
        md.update((e.getKey() + "\u0000" + e.getValue() + "\u0000").getBytes(StandardCharsets.UTF_8));
      }
      List<SafeTensors.Tensor> byName = new ArrayList<>(tensors);
      byName.sort(java.util.Comparator.comparing(SafeTensors.Tensor::name));
      for (SafeTensors.Tensor t : byName) {
        md.update((t.name() + "\u0000" + java.util.Arrays.toString(t.shape()) + "\u0000")
            .getBytes(StandardCharsets.UTF_8));
        float[] v = t.floats();
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        md.update(b.array());
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static void add(List<SafeTensors.Tensor> out, String prefix, Parameters p) {
    for (Parameters.Tensor t : p.tensors()) {
      out.add(SafeTensors.Tensor.f32(prefix + t.name(), t.shape(), t.data()));
    }
  }

  static void fill(SafeTensors file, String prefix, Parameters p) {
    for (Parameters.Tensor t : p.tensors()) {
      float[] v = file.tensor(prefix + t.name()).floats();
      if (v.length != t.size()) {
        throw new IllegalArgumentException(prefix + t.name() + " holds " + v.length + " values, expected " + t.size());
      }
      System.arraycopy(v, 0, t.data(), 0, t.size());
    }
  }
}
