package io.hiformer.training;

import io.hiformer.model.DurableFiles;
import io.hiformer.model.SafeTensors;
import io.hiformer.proto.TrainingExample;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * The continuous trainer's checkpoints: weights, Adam's moments and counters, the topic offsets
 * up to which every example is accounted for, the held-out slice and the vocabulary state, all of
 * one moment between two steps, committed together.
 *
 * <p>Layout of the directory:
 * <pre>
 *   CURRENT                      the committed generation's name, e.g. gen-00000012
 *   gen-00000012/state.safetensors   tensors (param., adam.m., adam.v., ema.) and metadata: run identity,
 *                                 offsets, counters, SHA-256 of the other files; a checksum over all of it
 *   gen-00000012/holdout.pb      the held-out slice, length-delimited TrainingExamples
 *   gen-00000012/vocabulary.bin  the vocabulary state (only with a growing vocabulary)
 *   ledger.tsv                   what each generation consumed, a line per partition
 *   checkpoint.lock              held by the running trainer
 * </pre>
 * A generation is written into a temporary directory, every file fsynced, renamed to its name,
 * its ledger lines appended (fsynced), and only then does {@code CURRENT} move to it (write new,
 * fsync, rename: {@link DurableFiles#replace}). A crash at any point leaves the previous
 * generation committed; the next start drops the ledger lines of generations after it.
 */
public final class FollowCheckpoint {
  public static final String CURRENT = "CURRENT";
  public static final String LEDGER = "ledger.tsv";
  static final String STATE = "state.safetensors";
  static final String HOLDOUT = "holdout.pb";
  static final String VOCABULARY = "vocabulary.bin";
  private static final String PREFIX = "gen-";
  private static final String LEDGER_HEADER = "generation\tpartition\tfrom\tto\ttrained\theld_out\tskipped";

  /**
   * In generation {@code generation}, partition {@code partition}'s offsets {@code [from, to)}
   * were consumed: {@code trained} examples trained on, {@code heldOut} put in the held-out
   * slice, {@code skipped} left out (unreadable, or of other transforms). Offsets of transaction
   * markers are inside ranges and in none of the counts.
   */
  public record Entry(long generation, int partition, long from, long to, long trained, long heldOut, long skipped) {
    String line() {
      return generation + "\t" + partition + "\t" + from + "\t" + to + "\t" + trained + "\t" + heldOut + "\t" + skipped;
    }

    static Entry parse(String line) {
      String[] f = line.split("\t");
      return new Entry(Long.parseLong(f[0]), Integer.parseInt(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
          Long.parseLong(f[4]), Long.parseLong(f[5]), Long.parseLong(f[6]));
    }
  }

  /** A committed generation, read and checked. */
  record Saved(long generation, Map<String, String> meta, SafeTensors state, List<TrainingExample> holdout,
      byte[] vocabulary) {}

  private FollowCheckpoint() {}

  /** The committed generation of {@code dir}, or -1 when none was committed. */
  public static long current(Path dir) throws IOException {
    Path file = dir.resolve(CURRENT);
    if (!Files.isRegularFile(file)) {
      return -1;
    }
    String name = Files.readString(file, StandardCharsets.US_ASCII).strip();
    if (!name.matches(PREFIX + "\\d+")) {
      throw new IllegalStateException(file + " does not name a checkpoint generation ('" + name + "'); delete the"
          + " directory to start over");
    }
    return Long.parseLong(name.substring(PREFIX.length()));
  }

  /** The ledger's lines of committed generations, in order. */
  public static List<Entry> ledger(Path dir) throws IOException {
    long committed = current(dir);
    List<Entry> out = new ArrayList<>();
    Path file = dir.resolve(LEDGER);
    if (!Files.isRegularFile(file)) {
      return out;
    }
    for (String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
      if (line.isBlank() || line.startsWith("generation")) {
        continue;
      }
      Entry e;
      try {
        e = Entry.parse(line);
      } catch (RuntimeException bad) {
        continue; // a line cut short by a crash, of a generation never committed
      }
      if (e.generation() <= committed) {
        out.add(e);
      }
    }
    return out;
  }

  static String name(long generation) {
    return String.format("%s%08d", PREFIX, generation);
  }

  /**
   * Commits {@code generation}: {@code tensors} and {@code meta} (the run identity under
   * {@code run.}, offsets, counters), the held-out slice, the vocabulary state (may be null) and
   * the ledger lines of what it consumed since the previous generation.
   */
  static void write(Path dir, long generation, List<SafeTensors.Tensor> tensors, Map<String, String> meta,
      List<TrainingExample> holdout, byte[] vocabulary, List<Entry> consumed) throws IOException {
    byte[] held = delimited(holdout);
    Map<String, String> m = new TreeMap<>(meta);
    m.put("generation", Long.toString(generation));
    m.put("holdout_sha256", sha256(held));
    if (vocabulary != null) {
      m.put("vocabulary_sha256", sha256(vocabulary));
    }
    m.put(Checkpoint.CHECKSUM, Checkpoint.checksum(m, tensors));
    Path target = dir.resolve(name(generation));
    Path temp = dir.resolve("." + name(generation) + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
        + ".tmp");
    Files.createDirectory(temp);
    try {
      DurableFiles.writeNew(temp.resolve(STATE), new SafeTensors(m, tensors).toBytes());
      DurableFiles.writeNew(temp.resolve(HOLDOUT), held);
      if (vocabulary != null) {
        DurableFiles.writeNew(temp.resolve(VOCABULARY), vocabulary);
      }
      DurableFiles.syncDirectory(temp);
      if (Files.exists(target)) {
        DurableFiles.deleteTree(target); // written by a run that crashed before committing it
      }
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
      DurableFiles.syncDirectory(dir);
    } finally {
      if (Files.exists(temp)) {
        DurableFiles.deleteTree(temp);
      }
    }
    appendLedger(dir, consumed);
    DurableFiles.replace(dir.resolve(CURRENT), (name(generation) + "\n").getBytes(StandardCharsets.US_ASCII));
    deleteOthers(dir, name(generation));
  }

  /**
   * Reads and checks the committed generation; null when there is none. Drops the ledger lines
   * of later (never committed) generations and their directories. Refuses a generation that is
   * unreadable, fails a checksum or holds a non-finite value; the caller checks the run identity.
   */
  static Saved read(Path dir) throws IOException {
    long generation = current(dir);
    keepLedgerUpTo(dir, generation);
    if (generation < 0) {
      return null;
    }
    deleteOthers(dir, name(generation));
    Path gen = dir.resolve(name(generation));
    Path path = gen.resolve(STATE);
    SafeTensors file;
    Map<String, String> meta;
    byte[] held;
    byte[] vocabulary;
    try {
      file = SafeTensors.read(path);
      meta = new TreeMap<>(file.metadata());
      held = Files.readAllBytes(gen.resolve(HOLDOUT));
      vocabulary = Files.exists(gen.resolve(VOCABULARY)) ? Files.readAllBytes(gen.resolve(VOCABULARY)) : null;
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("checkpoint " + gen + " is unreadable (" + e.getMessage()
          + "); delete the checkpoint directory to start over");
    }
    String stored = meta.remove(Checkpoint.CHECKSUM);
    if (stored == null || !stored.equals(Checkpoint.checksum(meta, file.tensors()))
        || !sha256(held).equals(meta.get("holdout_sha256"))
        || !java.util.Objects.equals(vocabulary == null ? null : sha256(vocabulary), meta.get("vocabulary_sha256"))) {
      throw new IllegalStateException("checkpoint " + gen + " fails its checksum: it is damaged or was not written by"
          + " this trainer; delete the checkpoint directory to start over");
    }
    Checkpoint.requireFinite(path, file);
    List<TrainingExample> holdout = new ArrayList<>();
    try (ByteArrayInputStream in = new ByteArrayInputStream(held)) {
      for (TrainingExample e = TrainingExample.parseDelimitedFrom(in); e != null;
          e = TrainingExample.parseDelimitedFrom(in)) {
        holdout.add(e);
      }
    }
    return new Saved(generation, meta, file, holdout, vocabulary);
  }

  private static byte[] delimited(List<TrainingExample> examples) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (TrainingExample e : examples) {
      e.writeDelimitedTo(out);
    }
    return out.toByteArray();
  }

  private static void appendLedger(Path dir, List<Entry> entries) throws IOException {
    Path file = dir.resolve(LEDGER);
    StringBuilder text = new StringBuilder();
    if (!Files.exists(file)) {
      text.append(LEDGER_HEADER).append('\n');
    }
    for (Entry e : entries) {
      text.append(e.line()).append('\n');
    }
    try (var ch = java.nio.channels.FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.APPEND)) {
      var b = java.nio.ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.US_ASCII));
      while (b.hasRemaining()) {
        ch.write(b);
      }
      ch.force(true);
    }
  }

  /** Rewrites the ledger without lines of generations after {@code generation} (a crash left them). */
  private static void keepLedgerUpTo(Path dir, long generation) throws IOException {
    Path file = dir.resolve(LEDGER);
    if (!Files.isRegularFile(file)) {
      return;
    }
    List<Entry> kept = ledger(dir);
    StringBuilder text = new StringBuilder(LEDGER_HEADER).append('\n');
    kept.forEach(e -> text.append(e.line()).append('\n'));
    if (!text.toString().equals(Files.readString(file, StandardCharsets.US_ASCII))) {
      DurableFiles.replace(file, text.toString().getBytes(StandardCharsets.US_ASCII));
    }
  }

  /** Removes generation directories and temporary ones other than {@code keep}. */
  private static void deleteOthers(Path dir, String keep) throws IOException {
    try (Stream<Path> entries = Files.list(dir)) {
      for (Path p : entries.toList()) {
        String n = p.getFileName().toString();
        if (Files.isDirectory(p) && !n.equals(keep) && (n.startsWith(PREFIX) || n.startsWith("." + PREFIX))) {
          DurableFiles.deleteTree(p);
        }
      }
    }
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
