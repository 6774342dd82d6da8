package io.hiformer.training;

import io.hiformer.model.ModelConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.Supplier;

/**
 * A directory of featurised example caches ({@link CachedExamples}) and fitted transforms, each
 * file named by its key: the SHA-256 of everything it was made from (the data files' paths, sizes
 * and modification times, or a topic's resolved offsets; the schema; the fitted transforms and
 * the model shape; the format). Changing any of them makes a new key, so a stale file is never
 * used; a file that fails its checks (truncated, damaged) is reported, deleted and made again.
 * Old files are not removed: delete the directory to reclaim the space.
 */
final class ExampleCache {
  private final Path dir;
  private final int window;
  private final PrintStream log;

  /** {@code window}: the examples a shuffled pass draws from at once (see {@link CachedExamples}). */
  ExampleCache(Path dir, int window, PrintStream log) {
    if (window < 1) {
      throw new IllegalArgumentException("shuffle window must be positive, got " + window);
    }
    this.dir = dir;
    this.window = window;
    this.log = log;
  }

  Path dir() {
    return dir;
  }

  /** Makes the examples of a cache file when it is missing or invalid. */
  @FunctionalInterface
  interface Fill {
    /** Writes every example to {@code out}; returns the info text to store with them. */
    String fill(CacheWriter out) throws IOException;
  }

  /** A key built from parts; the same parts in the same order give the same key. */
  static final class Key {
    private final MessageDigest md;

    Key(String kind) {
      try {
        md = MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
      add("hiformer example cache " + CacheFormat.VERSION).add(kind);
    }

    Key add(String part) {
      byte[] b = part.getBytes(StandardCharsets.UTF_8);
      md.update(Integer.toString(b.length).getBytes(StandardCharsets.UTF_8));
      md.update((byte) ':');
      md.update(b);
      return this;
    }

    /** A file's identity: its real path, size and modification time. */
    Key file(Path file) {
      try {
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
        return add(file.toRealPath().toString()).add(Long.toString(a.size()))
            .add(Long.toString(a.lastModifiedTime().toMillis()));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
      }
    }

    byte[] digest() {
      try {
        return ((MessageDigest) md.clone()).digest();
      } catch (CloneNotSupportedException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /**
   * The examples cached under {@code key}, checked; made by {@code fill} first when there is no
   * valid file. The caller closes the result.
   */
  CachedExamples examples(String what, Key key, ModelConfig config, Fill fill) throws IOException {
    byte[] k = key.digest();
    Path file = dir.resolve(what + "-" + HexFormat.of().formatHex(k, 0, 12) + ".examples");
    if (Files.exists(file)) {
      try {
        CachedExamples cached = CachedExamples.open(file, config, k, window);
        log.printf("%s: %,d examples from the cache %s%n", what, cached.count(), file);
        return cached;
      } catch (CachedExamples.Invalid e) {
        log.println(what + ": cache file not usable, making it again: " + e.getMessage());
        Files.deleteIfExists(file);
      }
    }
    try (CacheWriter out = new CacheWriter(file, config, k)) {
      out.finish(fill.fill(out));
    }
    return CachedExamples.open(file, config, k, window);
  }

  /**
   * A text (fitted transforms) cached under {@code key}: read when present and intact (a
   * SHA-256 line guards it), else made by {@code make} and stored.
   */
  String text(String what, Key key, Supplier<String> make) throws IOException {
    byte[] k = key.digest();
    Path file = dir.resolve(what + "-" + HexFormat.of().formatHex(k, 0, 12) + ".json");
    if (Files.exists(file)) {
      String stored = Files.readString(file);
      int nl = stored.indexOf('\n');
      if (nl > 0 && stored.substring(0, nl).equals(sha256(stored.substring(nl + 1)))) {
        log.println(what + ": from the cache " + file);
        return stored.substring(nl + 1);
      }
      log.println(what + ": cache file " + file + " is damaged, making it again");
    }
    String text = make.get();
    Files.createDirectories(dir);
    Path temp = dir.resolve(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
    Files.writeString(temp, sha256(text) + "\n" + text);
    Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    return text;
  }

  private static String sha256(String text) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
