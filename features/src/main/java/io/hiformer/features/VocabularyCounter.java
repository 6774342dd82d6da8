package io.hiformer.features;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Exact value counts of one field with bounded memory. Counts live in a hash map until the
 * fitter's budget of distinct values is reached ({@link #spill}); then they are written to a
 * temporary file as a run sorted by value and the map starts empty. {@link #vocabulary} merges
 * the runs (k-way, summing each value's counts), so the counts, and the vocabulary, are exactly
 * those of one big map; only the kept values are ever held at once ({@code maxVocabulary} of
 * them in a heap). Disk use is about the size of the distinct values plus 8 bytes each per run.
 */
final class VocabularyCounter implements AutoCloseable {
  private static final Comparator<Map.Entry<String, Long>> ORDER =
      Comparator.<Map.Entry<String, Long>>comparingLong(e -> -e.getValue()).thenComparing(Map.Entry::getKey);

  private final String field;
  private Map<String, long[]> counts = new HashMap<>();
  private final List<Path> runs = new ArrayList<>();
  private Path dir;
  private long mostFrequent;

  VocabularyCounter(String field) {
    this.field = field;
  }

  /** Counts one occurrence; true when the value is new to the in-memory map. */
  boolean add(String value) {
    long[] c = counts.get(value);
    if (c != null) {
      c[0]++;
      return false;
    }
    counts.put(value, new long[] {1});
    return true;
  }

  /** Distinct values held in memory now. */
  int inMemory() {
    return counts.size();
  }

  /** Runs spilled to disk so far. */
  int runs() {
    return runs.size();
  }

  /** Writes the in-memory counts to disk as a run sorted by value, and empties the map. */
  void spill() {
    if (counts.isEmpty()) {
      return;
    }
    try {
      if (dir == null) {
        dir = Files.createTempDirectory("hiformer-vocab-");
      }
      Path run = dir.resolve("run-" + runs.size());
      List<String> keys = new ArrayList<>(counts.keySet());
      keys.sort(null);
      try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(run), 1 << 16))) {
        for (String k : keys) {
          byte[] b = k.getBytes(StandardCharsets.UTF_8);
          out.writeInt(b.length);
          out.write(b);
          out.writeLong(counts.get(k)[0]);
        }
      }
      runs.add(run);
      counts = new HashMap<>();
    } catch (IOException e) {
      throw new UncheckedIOException("field '" + field + "': cannot spill value counts to a temporary file: "
          + e.getMessage(), e);
    }
  }

  /**
   * The values seen at least {@code minCount} times, at most {@code maxVocabulary} of them (0: no
   * limit), by descending count, ties by value. Deletes the spilled runs.
   */
  List<String> vocabulary(int minCount, int maxVocabulary) {
    List<Map.Entry<String, Long>> kept;
    if (runs.isEmpty()) {
      Selection select = new Selection(minCount, maxVocabulary);
      counts.forEach((k, v) -> select.offer(k, v[0]));
      kept = select.result();
      mostFrequent = select.most;
    } else {
      spill();
      kept = merge(minCount, maxVocabulary);
    }
    counts = new HashMap<>();
    close();
    return kept.stream().map(Map.Entry::getKey).toList();
  }

  private List<Map.Entry<String, Long>> merge(int minCount, int maxVocabulary) {
    Selection select = new Selection(minCount, maxVocabulary);
    PriorityQueue<Run> heads = new PriorityQueue<>(Comparator.comparing((Run r) -> r.key));
    try {
      for (Path p : runs) {
        Run r = new Run(p);
        if (r.advance()) {
          heads.add(r);
        }
      }
      while (!heads.isEmpty()) {
        String key = heads.peek().key;
        long total = 0;
        while (!heads.isEmpty() && heads.peek().key.equals(key)) {
          Run r = heads.poll();
          total += r.count;
          if (r.advance()) {
            heads.add(r);
          } else {
            r.in.close();
          }
        }
        select.offer(key, total);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("field '" + field + "': cannot read spilled value counts: " + e.getMessage(), e);
    } finally {
      for (Run r : heads) {
        try {
          r.in.close();
        } catch (IOException ignored) {
          // being deleted anyway
        }
      }
    }
    mostFrequent = select.most;
    return select.result();
  }

  /** The count of the most frequent value, kept or not; set by {@link #vocabulary}. */
  long mostFrequent() {
    return mostFrequent;
  }

  /** Deletes the spilled runs. */
  @Override
  public void close() {
    try {
      for (Path p : runs) {
        Files.deleteIfExists(p);
      }
      runs.clear();
      if (dir != null) {
        Files.deleteIfExists(dir);
        dir = null;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete spilled value counts: " + e.getMessage(), e);
    }
  }

  /** The values kept: all those at or above the minimum count, or the best {@code max} by {@link #ORDER}. */
  private static final class Selection {
    private final int minCount;
    private final int max;
    private final List<Map.Entry<String, Long>> all = new ArrayList<>();
    /** With a limit: the worst kept value at the head. */
    private final PriorityQueue<Map.Entry<String, Long>> best;
    /** The highest count offered, kept or not. */
    long most;

    Selection(int minCount, int max) {
      this.minCount = minCount;
      this.max = max;
      this.best = max > 0 ? new PriorityQueue<>(ORDER.reversed()) : null;
    }

    void offer(String key, long count) {
      most = Math.max(most, count);
      if (count < minCount) {
        return;
      }
      Map.Entry<String, Long> e = Map.entry(key, count);
      if (best == null) {
        all.add(e);
      } else if (best.size() < max) {
        best.add(e);
      } else if (ORDER.compare(e, best.peek()) < 0) {
        best.poll();
        best.add(e);
      }
    }

    List<Map.Entry<String, Long>> result() {
      List<Map.Entry<String, Long>> out = best == null ? all : new ArrayList<>(best);
      out.sort(ORDER);
      return out;
    }
  }

  private static final class Run {
    final DataInputStream in;
    String key;
    long count;

    Run(Path file) throws IOException {
      in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16));
    }

    boolean advance() throws IOException {
      int n;
      try {
        n = in.readInt();
      } catch (EOFException end) {
        return false;
      }
      key = new String(in.readNBytes(n), StandardCharsets.UTF_8);
      count = in.readLong();
      return true;
    }
  }
}
