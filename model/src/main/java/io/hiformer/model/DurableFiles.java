package io.hiformer.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * File writes that survive a crash of the process or the machine: data is fsynced before it is
 * renamed into place, and the directory is fsynced after, so a rename is never visible before
 * the bytes it names. Public for the trainer's checkpoints, which follow the same rules.
 */
public final class DurableFiles {
  private DurableFiles() {}

  /** Creates {@code file}, which must not exist, with {@code bytes}, and fsyncs it. */
  public static void writeNew(Path file, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(bytes);
      while (b.hasRemaining()) {
        ch.write(b);
      }
      ch.force(true);
    }
  }

  /** Replaces {@code file} atomically: readers see the old content or the new, never a mix. */
  public static void replace(Path file, byte[] bytes) throws IOException {
    Path tmp = file.resolveSibling("." + file.getFileName() + "."
        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    try {
      writeNew(tmp, bytes);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
    syncDirectory(file.getParent());
  }

  /** Makes renames into {@code dir} durable where the platform can open a directory. */
  public static void syncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException | UnsupportedOperationException e) {
      // Not supported here (e.g. Windows), where renames need no directory sync.
    }
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError("every JDK has SHA-256", e);
    }
  }

  /** Deletes a directory tree, deepest entries first. */
  public static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
