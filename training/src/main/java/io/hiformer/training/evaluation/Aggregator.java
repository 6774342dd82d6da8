package io.hiformer.training.evaluation;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Collects scored rows into groups and, when a group closes, adds it to the accumulators of every
 * cell it touches: all rows, and per slice field the rows of each of its values. One per worker
 * thread; {@link #merge} adds another's cells.
 *
 * <p>Memory: the rows of open groups ({@code 4 * (V * T + 2 * T + S)} bytes each, for V versions,
 * T tasks and S slice fields) and the accumulators of the cells seen. A group closes when
 * {@code window} rows of the input have passed since its last row (0: at the end only); a row of
 * a group that already closed is an error, since its ranking metrics and bootstrap unit would be
 * split. Closed groups are remembered by 64-bit hash, 16 bytes each.
 */
final class Aggregator {
  static final long OVERALL = -1;

  private final Accumulator.Layout layout;
  private final int versions;
  private final int tasks;
  private final int slices;
  private final int stride;
  private final long seed;
  private final long window;
  private final String groupBy;
  private final LinkedHashMap<String, Group> open = new LinkedHashMap<>(16, 0.75f, true);
  private final HashSet64 closed = new HashSet64();
  private final Map<Long, Cell> cells = new HashMap<>();
  private final Accumulator.GroupBuffers groupBuffers;
  private final byte[] weights;
  private final int[] replicate;
  private final int[] weight;
  private float[] z = new float[16];
  private float[] y = new float[16];
  private int[] rows = new int[16];
  private long[] byValue = new long[16];

  /** One cell's accumulators, {@code [version * tasks + task]}, and its row and group counts. */
  static final class Cell {
    final Accumulator[] accumulators;
    long rows;
    long groups;

    Cell(Accumulator.Layout layout, int count, int scoreTableLimit) {
      accumulators = new Accumulator[count];
      for (int i = 0; i < count; i++) {
        accumulators[i] = new Accumulator(layout, scoreTableLimit);
      }
    }
  }

  private static final class Group {
    final String key;
    final long hash;
    long lastSeq;
    int rows;
    float[] data;
    int[] slices;

    Group(String key, long hash, int stride, int sliceCount) {
      this.key = key;
      this.hash = hash;
      this.data = new float[stride * 4];
      this.slices = new int[Math.max(1, sliceCount * 4)];
    }
  }

  Aggregator(Accumulator.Layout layout, int versions, int tasks, int slices, long seed, long window, String groupBy) {
    this.layout = layout;
    this.versions = versions;
    this.tasks = tasks;
    this.slices = slices;
    this.stride = versions * tasks + 2 * tasks;
    this.seed = seed;
    this.window = window;
    this.groupBy = groupBy;
    this.groupBuffers = new Accumulator.GroupBuffers(layout);
    this.weights = new byte[layout.replicates()];
    this.replicate = new int[layout.replicates()];
    this.weight = new int[layout.replicates()];
  }

  /**
   * Adds one scored row: {@code logits[v * T + t]}, {@code labels[t]}, {@code mask[t]} (1 when the
   * label is known) and the id of its value for each slice field; {@code seq} is its position in
   * the input, {@code location} where it came from (for errors).
   */
  void add(String key, long hash, long seq, float[] logits, float[] labels, float[] mask, int[] sliceIds,
      String location) {
    Group g = open.get(key);
    if (g == null) {
      if (closed.contains(hash)) {
        throw new IllegalArgumentException(location + ": group '" + key + "' (" + groupBy + ") appears again more than "
            + window + " rows after its previous row, after its metrics were taken; sort the data by "
            + groupBy + " or raise the group window (0 keeps every group open to the end)");
      }
      g = new Group(key, hash, stride, slices);
      open.put(key, g);
    }
    g.lastSeq = seq;
    if ((g.rows + 1) * stride > g.data.length) {
      g.data = Arrays.copyOf(g.data, g.data.length * 2);
    }
    if ((g.rows + 1) * slices > g.slices.length) {
      g.slices = Arrays.copyOf(g.slices, g.slices.length * 2);
    }
    int at = g.rows * stride;
    System.arraycopy(logits, 0, g.data, at, versions * tasks);
    System.arraycopy(labels, 0, g.data, at + versions * tasks, tasks);
    System.arraycopy(mask, 0, g.data, at + versions * tasks + tasks, tasks);
    System.arraycopy(sliceIds, 0, g.slices, g.rows * slices, slices);
    g.rows++;
  }

  /** Closes the groups whose last row is more than the window before {@code seq}. */
  void evictIdle(long seq) {
    if (window <= 0) {
      return;
    }
    Iterator<Group> it = open.values().iterator();
    while (it.hasNext()) {
      Group g = it.next();
      if (g.lastSeq > seq - window) {
        break;  // access order: the rest are more recent
      }
      it.remove();
      closed.add(g.hash);
      close(g);
    }
  }

  /** Closes every open group: the input has ended. */
  void finish() {
    for (Group g : open.values()) {
      close(g);
    }
    open.clear();
  }

  Map<Long, Cell> cells() {
    return cells;
  }

  void merge(Aggregator other) {
    for (Map.Entry<Long, Cell> e : other.cells.entrySet()) {
      Cell mine = cells.get(e.getKey());
      if (mine == null) {
        cells.put(e.getKey(), e.getValue());
      } else {
        for (int i = 0; i < mine.accumulators.length; i++) {
          mine.accumulators[i].merge(e.getValue().accumulators[i]);
        }
        mine.rows += e.getValue().rows;
        mine.groups += e.getValue().groups;
      }
    }
  }

  private void close(Group g) {
    Bootstrap.weights(g.hash, seed, weights);
    int nonzero = 0;
    for (int b = 0; b < weights.length; b++) {
      if (weights[b] != 0) {
        replicate[nonzero] = b;
        weight[nonzero++] = weights[b];
      }
    }
    if (rows.length < g.rows) {
      int n = Math.max(g.rows, rows.length * 2);
      rows = new int[n];
      byValue = new long[n];
      z = new float[n];
      y = new float[n];
    }
    for (int r = 0; r < g.rows; r++) {
      rows[r] = r;
    }
    addToCell(OVERALL, g, rows, g.rows, nonzero);
    for (int f = 0; f < slices; f++) {
      for (int r = 0; r < g.rows; r++) {
        byValue[r] = ((long) g.slices[r * slices + f] << 32) | r;
      }
      Arrays.sort(byValue, 0, g.rows);
      int start = 0;
      while (start < g.rows) {
        int value = (int) (byValue[start] >>> 32);
        int end = start;
        while (end < g.rows && (int) (byValue[end] >>> 32) == value) {
          rows[end - start] = (int) byValue[end];
          end++;
        }
        addToCell(((long) f << 32) | value, g, rows, end - start, nonzero);
        start = end;
      }
    }
  }

  private void addToCell(long key, Group g, int[] members, int count, int nonzero) {
    Cell cell = cells.computeIfAbsent(key, k -> new Cell(layout, versions * tasks,
        k == OVERALL ? ScoreTable.OVERALL_LIMIT : ScoreTable.SLICE_LIMIT));
    cell.rows += count;
    cell.groups++;
    for (int v = 0; v < versions; v++) {
      for (int t = 0; t < tasks; t++) {
        int n = 0;
        for (int i = 0; i < count; i++) {
          int at = members[i] * stride;
          if (g.data[at + versions * tasks + tasks + t] != 0) {
            z[n] = g.data[at + v * tasks + t];
            y[n++] = g.data[at + versions * tasks + t];
          }
        }
        cell.accumulators[v * tasks + t].addGroup(z, y, n, replicate, weight, nonzero, groupBuffers);
      }
    }
  }

  /** A set of 64-bit hashes, open addressing; 0 stands for itself through a flag. */
  private static final class HashSet64 {
    private long[] slots = new long[16];
    private int size;
    private boolean hasZero;

    boolean contains(long h) {
      if (h == 0) {
        return hasZero;
      }
      int mask = slots.length - 1;
      for (int i = (int) h & mask; slots[i] != 0; i = (i + 1) & mask) {
        if (slots[i] == h) {
          return true;
        }
      }
      return false;
    }

    void add(long h) {
      if (h == 0) {
        hasZero = true;
        return;
      }
      if (contains(h)) {
        return;
      }
      if ((size + 1) * 2 > slots.length) {
        long[] old = slots;
        slots = new long[old.length * 2];
        size = 0;
        for (long o : old) {
          if (o != 0) {
            insert(o);
          }
        }
      }
      insert(h);
    }

    private void insert(long h) {
      int mask = slots.length - 1;
      int i = (int) h & mask;
      while (slots[i] != 0) {
        i = (i + 1) & mask;
      }
      slots[i] = h;
      size++;
    }
  }
}
