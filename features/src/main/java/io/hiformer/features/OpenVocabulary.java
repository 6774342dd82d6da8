package io.hiformer.features;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hiformer.features.FeatureSchema.Field;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The growing vocabulary of one open field: each id seen at least {@code min_count} times gets its
 * own embedding row (no hashing, no collisions), an id unseen for {@code ttl} examples is expired
 * and its row recycled, and the rows never exceed {@code max_vocabulary}.
 *
 * <p>Time is counted in examples of the training stream (a clock the caller advances by one per
 * example, {@link OpenVocabularies#observe}), not in event time: it needs no trust in producers'
 * clocks, and files, which have no time, count the same way. An id last seen at example {@code s}
 * expires at the first example {@code t} with {@code t - s > ttl}.
 *
 * <p>Ids below {@code min_count} wait in a candidate set of at most {@code max_vocabulary} ids;
 * a candidate unseen for the TTL is forgotten, and when the set is full the least recently seen
 * candidate makes way (both counted as dropped). When every row is taken and none has expired, an
 * id that reaches {@code min_count} stays unknown (row 0) and is counted as refused; it stays a
 * candidate, so it is admitted on a later sighting once a row is free.
 *
 * <p>Admitted rows (new or recycled) and expired rows are also queued for {@link #drainAdmitted}
 * and {@link #drainExpired}, so that a trainer can initialise them. Not thread-safe.
 */
public final class OpenVocabulary {
  /**
   * The largest {@code max_vocabulary} of an open field. Its table is allocated whole, and its ids,
   * last sightings and candidates (about 50 bytes an id) go into the model file's header, which
   * readers limit to 100 MB.
   */
  public static final int MAX_ROWS = 1_000_000;

  private final String field;
  private final int capacity;
  private final int minCount;
  private final long ttl;
  /** Admitted ids by row, least recently seen first. */
  private final LinkedHashMap<String, Slot> admitted = new LinkedHashMap<>(16, 0.75f, true);
  private final LinkedHashMap<String, Slot> candidates = new LinkedHashMap<>(16, 0.75f, true);
  private final String[] byRow;
  private final HashMap<String, Integer> ids = new HashMap<>();
  private final ArrayDeque<Integer> freeRows = new ArrayDeque<>();
  private int nextFresh = 1;
  private long clock;
  private long admittedTotal;
  private long expiredTotal;
  private long refusedTotal;
  private long droppedCandidates;
  private int[] admittedRows = new int[16];
  private int admittedPending;
  private int[] expiredRows = new int[16];
  private int expiredPending;

  /** An id's row (admitted) or count (candidate), and the example it was last seen in. */
  private static final class Slot {
    int value;
    long lastSeen;

    Slot(int value, long lastSeen) {
      this.value = value;
      this.lastSeen = lastSeen;
    }
  }

  OpenVocabulary(Field spec) {
    if (!spec.open()) {
      throw new IllegalArgumentException("field '" + spec.name() + "' is not open");
    }
    this.field = spec.name();
    this.capacity = spec.maxVocabulary();
    this.minCount = spec.minCount();
    this.ttl = spec.ttl();
    this.byRow = new String[capacity + 1];
  }

  /** A vocabulary that starts with {@code ids} in rows 1.., all last seen at example 0. */
  static OpenVocabulary seeded(Field spec, Iterable<String> ids) {
    OpenVocabulary v = new OpenVocabulary(spec);
    for (String id : ids) {
      v.place(id, v.nextFresh++, 0);
    }
    return v;
  }

  public String field() {
    return field;
  }

  /** Rows ids can take: {@code max_vocabulary}. The table has one more, row 0 (unknown). */
  public int capacity() {
    return capacity;
  }

  /** Ids that hold a row now. */
  public int size() {
    return admitted.size();
  }

  /** Ids waiting to reach {@code min_count}. */
  public int candidates() {
    return candidates.size();
  }

  /** The example clock: the last example observed. */
  public long clock() {
    return clock;
  }

  /** The row of {@code id}, 0 when it holds none. Does not count as a sighting. */
  public int row(String id) {
    Integer r = ids.get(id);  // not admitted.get: that would count as a use in the access order
    return r == null ? 0 : r;
  }

  /** The id in {@code row}, or null when the row is free. */
  public String id(int row) {
    return row > 0 && row < byRow.length ? byRow[row] : null;
  }

  /** Admitted, expired, refused and dropped ids since the vocabulary began (carried across versions). */
  public record Stats(String field, int size, int capacity, int candidates, long admitted, long expired,
      long refused, long droppedCandidates) {}

  public Stats stats() {
    return new Stats(field, admitted.size(), capacity, candidates.size(), admittedTotal, expiredTotal,
        refusedTotal, droppedCandidates);
  }

  /**
   * Moves the clock to example {@code clock} (never backwards) and expires the ids and forgets
   * the candidates unseen for more than the TTL.
   */
  public void advance(long clock) {
    if (clock < this.clock) {
      throw new IllegalArgumentException("field '" + field + "': example clock " + clock + " is before "
          + this.clock);
    }
    this.clock = clock;
    if (ttl == 0) {
      return;
    }
    for (Iterator<Map.Entry<String, Slot>> it = admitted.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, Slot> e = it.next();
      if (clock - e.getValue().lastSeen <= ttl) {
        break;  // least recently seen first: the rest are fresher
      }
      it.remove();
      int row = e.getValue().value;
      ids.remove(e.getKey());
      byRow[row] = null;
      freeRows.add(row);
      expiredTotal++;
      expiredRows = push(expiredRows, expiredPending++, row);
    }
    for (Iterator<Slot> it = candidates.values().iterator(); it.hasNext(); ) {
      if (clock - it.next().lastSeen <= ttl) {
        break;
      }
      it.remove();
      droppedCandidates++;
    }
  }

  /**
   * One sighting of {@code id} in the example the clock is at ({@link #advance}): refreshes an
   * admitted id, else counts it and admits it at {@code min_count} when a row is free. Returns
   * its row, 0 while it has none.
   */
  public int observe(String id) {
    Slot s = admitted.get(id);  // moves it to the most recent end
    if (s != null) {
      s.lastSeen = clock;
      return s.value;
    }
    Slot c = candidates.get(id);
    long count = (c == null ? 0 : c.value) + 1L;
    if (count >= minCount) {
      int row = !freeRows.isEmpty() ? freeRows.poll() : nextFresh <= capacity ? nextFresh++ : 0;
      if (row > 0) {
        if (c != null) {
          candidates.remove(id);
        }
        place(id, row, clock);
        admittedTotal++;
        admittedRows = push(admittedRows, admittedPending++, row);
        return row;
      }
      refusedTotal++;
    }
    if (c == null) {
      if (candidates.size() >= capacity) {
        Iterator<Slot> oldest = candidates.values().iterator();
        oldest.next();
        oldest.remove();
        droppedCandidates++;
      }
      c = new Slot(0, clock);
      candidates.put(id, c);
    }
    c.value = (int) Math.min(Integer.MAX_VALUE, count);
    c.lastSeen = clock;
    return 0;
  }

  private void place(String id, int row, long lastSeen) {
    admitted.put(id, new Slot(row, lastSeen));
    ids.put(id, row);
    byRow[row] = id;
  }

  private static int[] push(int[] rows, int at, int row) {
    int[] out = at == rows.length ? Arrays.copyOf(rows, rows.length * 2) : rows;
    out[at] = row;
    return out;
  }

  /**
   * The rows admitted since the last call (new or recycled, in order; a row may repeat), which a
   * trainer initialises before they train. A row expired and admitted again appears here.
   */
  public int[] drainAdmitted() {
    int[] out = Arrays.copyOf(admittedRows, admittedPending);
    admittedPending = 0;
    return out;
  }

  /** The rows expired since the last call, in order. */
  public int[] drainExpired() {
    int[] out = Arrays.copyOf(expiredRows, expiredPending);
    expiredPending = 0;
    return out;
  }

  /** A deep copy, pending rows included. */
  OpenVocabulary copy(Field spec) {
    OpenVocabulary v = new OpenVocabulary(spec);
    v.readState(stateJson(), byRow.clone(), "copy");
    v.admittedRows = Arrays.copyOf(admittedRows, Math.max(16, admittedPending));
    v.admittedPending = admittedPending;
    v.expiredRows = Arrays.copyOf(expiredRows, Math.max(16, expiredPending));
    v.expiredPending = expiredPending;
    return v;
  }

  /**
   * The state ({@code vocabulary} by row, null for a free row, and the rest) as JSON: what the
   * model file and a checkpoint keep so that growth continues exactly where it stopped.
   * Admitted ids and candidates are listed least recently seen first.
   */
  ObjectNode stateJson() {
    ObjectNode o = SchemaJson.JSON.createObjectNode();
    o.put("clock", clock);
    ArrayNode rows = o.putArray("rows");
    ArrayNode seen = o.putArray("last_seen");
    for (Map.Entry<String, Slot> e : admitted.entrySet()) {
      rows.add(e.getValue().value);
      seen.add(e.getValue().lastSeen);
    }
    ArrayNode cand = o.putArray("candidates");
    for (Map.Entry<String, Slot> e : candidates.entrySet()) {
      cand.addArray().add(e.getKey()).add(e.getValue().value).add(e.getValue().lastSeen);
    }
    o.put("next_row", nextFresh);
    ArrayNode free = o.putArray("free_rows");
    freeRows.forEach(free::add);
    o.put("admitted", admittedTotal);
    o.put("expired", expiredTotal);
    o.put("refused", refusedTotal);
    o.put("dropped_candidates", droppedCandidates);
    return o;
  }

  /** The vocabulary by row: entry {@code i} is row {@code i + 1}'s id, null when free; up to the last used row. */
  ArrayNode vocabularyJson() {
    ArrayNode out = SchemaJson.JSON.createArrayNode();
    for (int r = 1; r < nextFresh; r++) {
      if (byRow[r] == null) {
        out.addNull();
      } else {
        out.add(byRow[r]);
      }
    }
    return out;
  }

  /** Reads {@link #vocabularyJson} and {@link #stateJson}; throws IllegalArgumentException naming what is wrong. */
  static OpenVocabulary fromJson(Field spec, JsonNode vocabulary, JsonNode state) {
    OpenVocabulary v = new OpenVocabulary(spec);
    if (vocabulary == null || !vocabulary.isArray() || vocabulary.size() > v.capacity) {
      throw v.bad("'vocabulary' must be a list of at most max_vocabulary (" + v.capacity + ") ids");
    }
    String[] vocab = new String[v.capacity + 1];
    java.util.Set<String> distinct = new java.util.HashSet<>();
    for (int i = 0; i < vocabulary.size(); i++) {
      JsonNode id = vocabulary.get(i);
      if (!id.isNull()) {
        if (!id.isTextual() || !distinct.add(id.textValue())) {
          throw v.bad("vocabulary entry " + (i + 1) + " must be a distinct string or null, got " + id);
        }
        vocab[i + 1] = id.textValue();
      }
    }
    if (state == null) {
      throw v.bad("'open_state' is missing");
    }
    v.readState(state, vocab, "open_state");
    if (v.nextFresh != vocabulary.size() + 1) {
      throw v.bad("'next_row' " + v.nextFresh + " does not follow the vocabulary's " + vocabulary.size() + " rows");
    }
    return v;
  }

  /** Sets the state from {@link #stateJson}, ids by row from {@code vocab}; checks that it is consistent. */
  private void readState(JsonNode state, String[] vocab, String what) {
    if (!state.isObject()) {
      throw bad("'" + what + "' must be an object");
    }
    clock = nonNegative(state, "clock");
    JsonNode rows = state.path("rows");
    JsonNode seen = state.path("last_seen");
    if (!rows.isArray() || !seen.isArray() || rows.size() != seen.size() || rows.size() > capacity) {
      throw bad("'rows' and 'last_seen' must be lists of the same length, at most " + capacity);
    }
    long next = nonNegative(state, "next_row");
    if (next < 1 || next > capacity + 1) {
      throw bad("'next_row' must be in [1, " + (capacity + 1) + "], got " + next);
    }
    for (int i = 0; i < rows.size(); i++) {
      int row = rows.get(i).canConvertToInt() ? rows.get(i).asInt() : -1;
      long last = seen.get(i).isIntegralNumber() ? seen.get(i).asLong() : -1;
      if (row < 1 || row >= next || vocab[row] == null || byRow[row] != null || last < 0 || last > clock) {
        throw bad("row " + rows.get(i) + " (last seen " + seen.get(i) + ") is not a used row of the vocabulary");
      }
      place(vocab[row], row, last);
    }
    for (int r = 1; r < vocab.length; r++) {
      if (vocab[r] != null && byRow[r] == null) {
        throw bad("vocabulary row " + r + " ('" + vocab[r] + "') has no last-seen entry");
      }
    }
    nextFresh = (int) next;
    for (JsonNode f : state.path("free_rows")) {
      int row = f.canConvertToInt() ? f.asInt() : -1;
      if (row < 1 || row >= next || byRow[row] != null || freeRows.contains(row)) {
        throw bad("free row " + f + " is not a free row below next_row");
      }
      freeRows.add(row);
    }
    if (admitted.size() + freeRows.size() != next - 1) {
      throw bad("rows in use (" + admitted.size() + ") and free rows (" + freeRows.size() + ") do not add up to "
          + (next - 1));
    }
    JsonNode cand = state.path("candidates");
    if (!cand.isArray() || cand.size() > capacity) {
      throw bad("'candidates' must be a list of at most " + capacity + " entries");
    }
    for (JsonNode c : cand) {
      if (!c.isArray() || c.size() != 3 || !c.get(0).isTextual() || !c.get(1).canConvertToInt()
          || c.get(1).asInt() < 1 || !c.get(2).isIntegralNumber() || c.get(2).asLong() < 0
          || c.get(2).asLong() > clock || ids.containsKey(c.get(0).textValue())
          || candidates.put(c.get(0).textValue(), new Slot(c.get(1).asInt(), c.get(2).asLong())) != null) {
        throw bad("candidate " + c + " must be [id, count >= 1, last seen], distinct and not admitted");
      }
    }
    admittedTotal = nonNegative(state, "admitted");
    expiredTotal = nonNegative(state, "expired");
    refusedTotal = nonNegative(state, "refused");
    droppedCandidates = nonNegative(state, "dropped_candidates");
  }

  private long nonNegative(JsonNode state, String key) {
    JsonNode n = state.get(key);
    if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) {
      throw bad("'" + key + "' must be a whole number >= 0, got " + n);
    }
    return n.longValue();
  }

  private IllegalArgumentException bad(String message) {
    return new IllegalArgumentException("open vocabulary of field '" + field + "': " + message);
  }
}
