package io.hiformer.ops;

import io.hiformer.features.BadRowException;
import io.hiformer.model.ModelFileException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.NoSuchElementException;

/**
 * What the {@code hiformer} commands tell a user about an error they can fix (a bad option, a
 * missing or unreadable file): one line and exit code 2, never a stack trace. Anything else is a
 * bug and keeps its trace (exit 1).
 */
final class UserErrors {
  private UserErrors() {}

  /** The one-line message for a user error, or null when {@code t} is not one. */
  static String message(Throwable t) {
    if (t instanceof UncheckedIOException u && u.getCause() != null) {
      return message(u.getCause());
    }
    if (t instanceof IOException io) {
      return describe(io);
    }
    if (t instanceof IllegalArgumentException || t instanceof IllegalStateException
        || t instanceof NoSuchElementException || t instanceof ModelFileException || t instanceof BadRowException) {
      return t.getMessage() == null ? t.toString() : t.getMessage();
    }
    if (t instanceof org.apache.kafka.common.KafkaException k) {
      return "Kafka: " + k.getMessage();
    }
    return null;
  }

  /**
   * An I/O error as a sentence: what is wrong and with which file ("x: no such file"), where the
   * JDK's file exceptions say only the path.
   */
  static String describe(IOException e) {
    if (e instanceof FileSystemException f && f.getFile() != null) {
      String what = switch (f) {
        case NoSuchFileException n -> "no such file or directory";
        case AccessDeniedException a -> "permission denied";
        case NotDirectoryException n -> "not a directory";
        case DirectoryNotEmptyException d -> "directory not empty";
        case FileAlreadyExistsException x -> "already exists";
        default -> f.getReason() == null ? "cannot access" : lowerFirst(f.getReason());
      };
      return f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": " + what;
    }
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }

  /**
   * Throws IllegalArgumentException naming {@code option} and what is wrong unless {@code file} is
   * a readable regular file (not missing, not a directory, not a device such as /dev/zero).
   */
  static Path readableFile(String option, Path file) {
    String problem = !Files.exists(file) ? "no such file"
        : Files.isDirectory(file) ? "is a directory"
        : !Files.isRegularFile(file) ? "not a regular file"
        : !Files.isReadable(file) ? "permission denied" : null;
    if (problem != null) {
      throw new IllegalArgumentException(option + " " + file + ": " + problem);
    }
    return file;
  }

  /**
   * {@link #readableFile} for a private key that must be PEM PKCS#8 ({@code BEGIN PRIVATE KEY}), as
   * gRPC's TLS reads it; a PKCS#1 or SEC1 key is named as such, with the command that converts it.
   */
  static Path pkcs8Key(String option, Path file) throws java.io.IOException {
    readableFile(option, file);
    String pem = Files.readString(file, java.nio.charset.StandardCharsets.US_ASCII);
    if (pem.contains("-----BEGIN PRIVATE KEY-----")) {
      return file;
    }
    java.util.regex.Matcher other = java.util.regex.Pattern.compile("-----BEGIN ([A-Z ]*PRIVATE KEY)-----").matcher(pem);
    throw new IllegalArgumentException(option + " " + file + ": not a PKCS#8 key"
        + (other.find() ? " (it holds a '" + other.group(1) + "'; convert it with: openssl pkcs8 -topk8 -nocrypt -in "
            + file.getFileName() + " -out key-pkcs8.pem)" : " (no '-----BEGIN PRIVATE KEY-----' PEM block)"));
  }

  private static String lowerFirst(String s) {
    return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
  }
}
