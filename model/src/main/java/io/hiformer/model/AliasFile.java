package io.hiformer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;

/**
 * One model's {@code aliases.json}: each alias's version and its earlier targets, newest first,
 * so that a promotion can be rolled back. Immutable; {@link #update} replaces the file atomically.
 *
 * <pre>{"aliases": {"production": {"version": 3, "previous": [2, 1]}}}</pre>
 */
final class AliasFile {
  /** Earlier targets kept per alias: enough to undo a bad week of promotions. */
  static final int HISTORY = 10;

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /**
   * Serialises read-modify-write cycles of this JVM: a file lock alone cannot, since Java refuses
   * to lock one file twice in one process. Promotions are rare, so one lock for all files will do.
   */
  private static final ReentrantLock IN_PROCESS = new ReentrantLock();

  record Target(long version, List<Long> previous) {
    Target {
      previous = List.copyOf(previous);
    }
  }

  private final SortedMap<String, Target> aliases;

  private AliasFile(SortedMap<String, Target> aliases) {
    this.aliases = Collections.unmodifiableSortedMap(aliases);
  }

  /** The file's aliases; none when it does not exist. */
  static AliasFile read(Path file) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return new AliasFile(new TreeMap<>());
    }
    try {
      SortedMap<String, Target> m = new TreeMap<>();
      for (Map.Entry<String, JsonNode> e : JSON.readTree(bytes).required("aliases").properties()) {
        List<Long> previous = new ArrayList<>();
        e.getValue().required("previous").forEach(v -> previous.add(v.asLong()));
        m.put(e.getKey(), new Target(e.getValue().required("version").asLong(), previous));
      }
      return new AliasFile(m);
    } catch (IOException | IllegalArgumentException e) {
      throw new IOException("unreadable aliases file " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Applies {@code change} to the current file and writes the result, holding a lock so that
   * concurrent promoters (threads or processes) do not lose each other's updates.
   */
  static AliasFile update(Path file, UnaryOperator<AliasFile> change) throws IOException {
    IN_PROCESS.lock();
    try (FileChannel lockFile = FileChannel.open(file.resolveSibling(".aliases.lock"),
            StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock ignored = lockFile.lock()) {
      AliasFile updated = change.apply(read(file));
      DurableFiles.replace(file, (JSON.writeValueAsString(updated.toJson()) + "\n").getBytes(StandardCharsets.UTF_8));
      return updated;
    } finally {
      IN_PROCESS.unlock();
    }
  }

  Map<String, Long> targets() {
    Map<String, Long> out = new TreeMap<>();
    aliases.forEach((name, t) -> out.put(name, t.version()));
    return Collections.unmodifiableMap(out);
  }

  /** Points {@code alias} at {@code version}, remembering its old target. */
  AliasFile point(String alias, long version) {
    Target old = aliases.get(alias);
    if (old != null && old.version() == version) {
      return this;
    }
    List<Long> previous = new ArrayList<>();
    if (old != null) {
      previous.add(old.version());
      previous.addAll(old.previous());
    }
    return with(alias, new Target(version, previous.subList(0, Math.min(HISTORY, previous.size()))));
  }

  /** Points {@code alias} back at its previous target, forgetting the current one. */
  AliasFile rollback(String model, String alias) {
    Target t = aliases.get(alias);
    if (t == null) {
      throw new NoSuchElementException("model '" + model + "' has no alias '" + alias + "'");
    }
    if (t.previous().isEmpty()) {
      throw new IllegalStateException("alias '" + alias + "' of model '" + model + "' points at version "
          + t.version() + " and has no earlier target to roll back to");
    }
    return with(alias, new Target(t.previous().getFirst(), t.previous().subList(1, t.previous().size())));
  }

  private AliasFile with(String alias, Target target) {
    SortedMap<String, Target> m = new TreeMap<>(aliases);
    m.put(alias, target);
    return new AliasFile(m);
  }

  private ObjectNode toJson() {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode all = root.putObject("aliases");
    aliases.forEach((name, t) -> {
      ObjectNode o = all.putObject(name);
      o.put("version", t.version());
      t.previous().forEach(o.putArray("previous")::add);
    });
    return root;
  }
}
