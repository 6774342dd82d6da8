package io.hiformer.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * A directory of versioned models (docs/operations.md, Model registry):
 *
 * <pre>
 * ROOT/MODEL/aliases.json             alias -> version, with earlier targets for rollback
 * ROOT/MODEL/VERSION/model.safetensors
 * ROOT/MODEL/VERSION/lineage.json     the publisher's JSON: data, config, metrics, commit
 * ROOT/MODEL/VERSION/COMPLETE         SHA-256 (hex) of model.safetensors, written last
 * ROOT/MODEL/.tmp-RANDOM/             a publish in progress, or one that crashed
 * </pre>
 *
 * A version is visible once its {@code COMPLETE} marker holds a SHA-256, so a publisher killed at
 * any point leaves no visible version. Versions are increasing integers, never reused or rewritten.
 * Listing does not re-hash files (that would read every model on each call); {@link #verify}
 * does, and is what a server calls before it swaps a version in. Safe for concurrent use by
 * threads and processes.
 */
public final class ModelRegistry {
  public static final String MODEL_FILE = "model.safetensors";
  public static final String LATEST = "latest";
  static final String MARKER = "COMPLETE";
  static final String LINEAGE = "lineage.json";
  static final String ALIASES = "aliases.json";
  static final String TEMP_PREFIX = ".tmp-";

  private static final Pattern MODEL_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
  private static final Pattern ALIAS_NAME = Pattern.compile("[a-z][a-z0-9_-]*");
  private static final Pattern NUMBER = Pattern.compile("[1-9][0-9]{0,17}");
  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One visible version: its model file, that file's SHA-256 from the marker, and its lineage. */
  public record Version(String model, long number, Path file, String sha256, Instant created, String lineageJson) {}

  /** Points of a publish where a test can stop the process, to show that a crash there is harmless. */
  enum Stage { TEMP_WRITTEN, RENAMED }

  /** Called at each {@link Stage}; only tests set it. */
  volatile Consumer<Stage> stageHook = stage -> {};

  private final Path root;

  private ModelRegistry(Path root) {
    this.root = root;
  }

  /** The registry at {@code root}, creating the directory if needed. */
  public static ModelRegistry open(Path root) throws IOException {
    return new ModelRegistry(Files.createDirectories(root.toAbsolutePath()));
  }

  public Path root() {
    return root;
  }

  /** Publishes a copy of {@code modelFile}, which must be a valid model file, as the next version. */
  public Version publish(String model, Path modelFile, String lineageJson) throws IOException {
    byte[] bytes = readModelBytes(modelFile);
    try {
      ModelFile.load(bytes);
    } catch (ModelFileException e) {
      throw new ModelFileException(modelFile + ": " + e.getMessage(), e);
    }
    return publishBytes(model, bytes, lineageJson);
  }

  /** Writes {@code parameters} as in {@link ModelFile#write} and publishes them as the next version. */
  public Version publish(String model, Parameters parameters, Map<String, String> metadata, String lineageJson)
      throws IOException {
    return publishBytes(model, ModelFile.encode(parameters, metadata).toBytes(), lineageJson);
  }

  private Version publishBytes(String model, byte[] bytes, String lineageJson) throws IOException {
    Path dir = Files.createDirectories(modelDir(model));
    byte[] lineage = requireJson(lineageJson).getBytes(StandardCharsets.UTF_8);
    Path temp = Files.createDirectory(dir.resolve(TEMP_PREFIX + Long.toHexString(ThreadLocalRandom.current().nextLong())));
    long number;
    try {
      DurableFiles.writeNew(temp.resolve(MODEL_FILE), bytes);
      DurableFiles.writeNew(temp.resolve(LINEAGE), lineage);
      DurableFiles.syncDirectory(temp);
      stageHook.accept(Stage.TEMP_WRITTEN);
      number = renameToNextNumber(temp, dir);
    } catch (IOException | RuntimeException e) {
      try {
        DurableFiles.deleteTree(temp);
      } catch (IOException cleanup) {
        e.addSuppressed(cleanup); // gc() removes it later
      }
      throw e;
    }
    stageHook.accept(Stage.RENAMED);
    Path versionDir = dir.resolve(Long.toString(number));
    DurableFiles.replace(versionDir.resolve(MARKER), (DurableFiles.sha256(bytes) + "\n").getBytes(StandardCharsets.US_ASCII));
    return version(model, number);
  }

  /**
   * Claims a number by renaming the filled temporary directory to it: a rename onto an existing
   * (non-empty) version directory fails, so of two racing publishers one wins and the other
   * retries with a higher number. Numbers of crashed publishes stay taken.
   */
  private static long renameToNextNumber(Path temp, Path dir) throws IOException {
    long next = highestNumber(dir) + 1;
    for (int attempt = 0; ; attempt++) {
      Path target = dir.resolve(Long.toString(next));
      try {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        DurableFiles.syncDirectory(dir);
        return next;
      } catch (IOException e) {
        if (!Files.exists(target) || attempt >= 100) {
          throw e;
        }
        next = Math.max(next, highestNumber(dir)) + 1;
      }
    }
  }

  /** Visible versions, oldest first; none for a model that does not exist. */
  public List<Version> versions(String model) throws IOException {
    List<Version> out = new ArrayList<>();
    for (long n : numbers(modelDir(model))) {
      read(model, n).ifPresent(out::add);
    }
    return List.copyOf(out);
  }

  public Optional<Version> latest(String model) throws IOException {
    List<Version> all = versions(model);
    return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
  }

  /** The visible version {@code number}; a NoSuchElementException if there is none. */
  public Version version(String model, long number) throws IOException {
    return read(model, number).orElseThrow(() -> new NoSuchElementException(
        "model '" + model + "' has no version " + number));
  }

  /** Each alias of {@code model} and the version it points at, by alias name. */
  public Map<String, Long> aliases(String model) throws IOException {
    return AliasFile.read(modelDir(model).resolve(ALIASES)).targets();
  }

  /** {@code "latest"}, an alias or a version number, resolved to a visible version. */
  public Optional<Version> resolve(String model, String aliasOrVersion) throws IOException {
    if (aliasOrVersion.equals(LATEST)) {
      return latest(model);
    }
    if (NUMBER.matcher(aliasOrVersion).matches()) {
      return read(model, Long.parseLong(aliasOrVersion));
    }
    Long target = aliases(model).get(requireAlias(aliasOrVersion));
    return target == null ? Optional.empty() : read(model, target);
  }

  /** Points {@code alias} at visible version {@code number} (a promotion); undo with {@link #rollback}. */
  public void setAlias(String model, String alias, long number) throws IOException {
    requireAlias(alias);
    version(model, number);
    AliasFile.update(modelDir(model).resolve(ALIASES), a -> a.point(alias, number));
  }

  /** Points {@code alias} back at the version it pointed at before its last change, and returns that. */
  public Version rollback(String model, String alias) throws IOException {
    requireAlias(alias);
    AliasFile after = AliasFile.update(modelDir(model).resolve(ALIASES), a -> a.rollback(model, alias));
    return version(model, after.targets().get(alias));
  }

  /** Names of the models that have at least one visible version, sorted. */
  public List<String> models() throws IOException {
    List<String> out = new ArrayList<>();
    for (String name : modelDirNames()) {
      if (!versions(name).isEmpty()) {
        out.add(name);
      }
    }
    return out.stream().sorted().toList();
  }

  /**
   * Re-hashes the version's file against its marker and loads it: a ModelFileException if either
   * fails. Returns what was checked, so a server swaps in exactly the bytes it verified.
   */
  public ModelFile.Loaded verify(Version version) throws IOException {
    byte[] bytes = readModelBytes(version.file());
    String actual = DurableFiles.sha256(bytes);
    if (!actual.equals(version.sha256())) {
      throw new ModelFileException(version.file() + ": SHA-256 is " + actual + ", but its " + MARKER
          + " marker records " + version.sha256() + "; the file changed after it was published");
    }
    try {
      return ModelFile.load(bytes);
    } catch (ModelFileException e) {
      throw new ModelFileException(version.file() + ": " + e.getMessage(), e);
    }
  }

  /**
   * Deletes temporary directories of publishes that started more than {@code olderThan} ago
   * (crashed ones: a live publish may be writing a younger one). Returns how many it deleted.
   */
  public int gc(Duration olderThan) throws IOException {
    Instant cutoff = Instant.now().minus(olderThan);
    int deleted = 0;
    for (String model : modelDirNames()) {
      try (DirectoryStream<Path> temps = Files.newDirectoryStream(root.resolve(model), TEMP_PREFIX + "*")) {
        for (Path t : temps) {
          if (Files.getLastModifiedTime(t).toInstant().isBefore(cutoff)) {
            DurableFiles.deleteTree(t);
            deleted++;
          }
        }
      }
    }
    return deleted;
  }

  private Optional<Version> read(String model, long number) throws IOException {
    Path dir = modelDir(model).resolve(Long.toString(number));
    Path marker = dir.resolve(MARKER);
    try {
      String sha = Files.readString(marker, StandardCharsets.US_ASCII).strip();
      if (!SHA256.matcher(sha).matches() || !Files.isRegularFile(dir.resolve(MODEL_FILE))) {
        return Optional.empty();
      }
      return Optional.of(new Version(model, number, dir.resolve(MODEL_FILE), sha,
          Files.getLastModifiedTime(marker).toInstant(), Files.readString(dir.resolve(LINEAGE))));
    } catch (NoSuchFileException e) {
      return Optional.empty(); // not complete (no marker, or no lineage in a hand-made directory)
    }
  }

  /** Every version number in use, visible or not, ascending. */
  private static List<Long> numbers(Path modelDir) throws IOException {
    List<Long> out = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(modelDir)) {
      for (Path e : entries) {
        if (NUMBER.matcher(e.getFileName().toString()).matches() && Files.isDirectory(e)) {
          out.add(Long.parseLong(e.getFileName().toString()));
        }
      }
    } catch (NoSuchFileException e) {
      return List.of();
    }
    return out.stream().sorted().toList();
  }

  private static long highestNumber(Path modelDir) throws IOException {
    List<Long> all = numbers(modelDir);
    return all.isEmpty() ? 0 : all.getLast();
  }

  private List<String> modelDirNames() throws IOException {
    List<String> out = new ArrayList<>();
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root)) {
      for (Path d : dirs) {
        if (MODEL_NAME.matcher(d.getFileName().toString()).matches() && Files.isDirectory(d)) {
          out.add(d.getFileName().toString());
        }
      }
    }
    return out;
  }

  private Path modelDir(String model) {
    return root.resolve(requireModelName(model));
  }

  /** {@code model} when it is a valid model name (a directory name, no path); else IllegalArgumentException. */
  public static String requireModelName(String model) {
    if (model == null || !MODEL_NAME.matcher(model).matches()) {
      throw new IllegalArgumentException("invalid model name '" + model + "': use letters, digits, '.', '_' and"
          + " '-', starting with a letter or digit (" + MODEL_NAME + ")");
    }
    return model;
  }

  private static String requireAlias(String alias) {
    if (alias == null || !ALIAS_NAME.matcher(alias).matches() || alias.equals(LATEST)) {
      throw new IllegalArgumentException("invalid alias '" + alias + "': use lower-case letters, digits, '_' and"
          + " '-', starting with a letter (" + ALIAS_NAME + "), and not '" + LATEST + "', which always means"
          + " the newest version");
    }
    return alias;
  }

  private static String requireJson(String json) {
    try {
      if (json == null || JSON.readTree(json).isMissingNode()) {
        throw new IllegalArgumentException("lineage must be a JSON document, got " + (json == null ? "null" : "nothing"));
      }
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("lineage is not valid JSON: " + e.getOriginalMessage(), e);
    }
    return json;
  }

  private static byte[] readModelBytes(Path file) throws IOException {
    long size = Files.size(file);
    if (size > SafeTensors.MAX_FILE_BYTES) {
      throw new ModelFileException(file + ": file of " + size + " bytes is larger than " + SafeTensors.MAX_FILE_BYTES);
    }
    return Files.readAllBytes(file);
  }
}
