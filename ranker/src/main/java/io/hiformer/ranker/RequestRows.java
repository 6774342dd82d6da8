package io.hiformer.ranker;

import io.hiformer.features.BadRowException;
import io.hiformer.features.Featurizer;
import io.hiformer.features.RawRecord;
import io.hiformer.features.online.OnlineStore;
import io.hiformer.features.online.StoredEntity;
import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Turns a {@link RankRequest} into model rows, one per candidate, through the model's stored
 * transforms (the same {@link Featurizer} training used). User and context fields are the same for
 * every candidate, so they are transformed once per request and copied into each row; only item
 * fields are transformed per candidate.
 *
 * <p>Sources, by field side, first found wins: a user or context field reads the request's
 * {@code user_id} (under the user column), else its {@code context}, else (user fields only) the
 * user's stored features; an item field reads the candidate's {@code item_id} (under the item
 * column), else its {@code features}, else the request's {@code context} (a value shared by all
 * candidates), else the item's stored features. Request-time values thus win over stored ones.
 * Keys no field reads are ignored; so are keys in a candidate's {@code features} that only user or
 * context fields read, a bag for a field that is not a bag field, and a value under the user or item
 * id column (the request's ids win): each is reported to the call's {@link FeatureNotes}. So is a
 * stored value its field cannot use (not a finite float, as stored or after the transform), which
 * reads as missing: the candidate is scored, the call does not fail.
 *
 * <p>Item rows come from the model's {@link ItemRowCache} when they can: a candidate without
 * features of its own, in a request whose context holds no item field, depends only on its item id
 * and the item's stored snapshot, so its item side is transformed once per model version and
 * stored snapshot and then copied from the cache. Any other candidate is transformed from its
 * values and neither read from nor put in the cache, so request-time values always win.
 *
 * <p>Reuses its buffers (the batch, one row, the records): after warm-up a request allocates only
 * what the transforms allocate on a cache miss (bag id arrays, the cached row). Not thread-safe:
 * one per thread.
 */
public final class RequestRows {
  /** Why a request feature was not used; the tag is a metric label. */
  public enum Ignored {
    /** No field of the model reads the key. */
    UNKNOWN_FIELD,
    /** A candidate's feature that only user or context fields read. */
    WRONG_SIDE,
    /** A bag for a field that is not a bag field (it reads as missing). */
    WRONG_KIND,
    /** A value under the user or item id column: the request's {@code user_id} or {@code item_id} wins. */
    ID_COLUMN;

    public String tag() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** What encoding notices about one call's features; called on the call's thread, must not block. */
  public interface FeatureNotes {
    FeatureNotes NONE = new FeatureNotes() {
      @Override
      public void ignored(String key, Ignored reason) {}

      @Override
      public void unusableStored(String field) {}
    };

    /** A request feature under {@code key} that nothing read, and why. */
    void ignored(String key, Ignored reason);

    /** A stored value of {@code field} that its transform cannot use was read as missing. */
    void unusableStored(String field);
  }

  private final Featurizer featurizer;
  private final Batch batch;
  private final Batch one;
  private final String userColumn;
  private final String itemColumn;
  private final Set<String> itemColumns = new HashSet<>();
  private final Set<String> sharedColumns = new HashSet<>();
  private final Set<String> userColumns = new HashSet<>();
  private final Set<String> bagColumns = new HashSet<>();
  private FeatureNotes notes = FeatureNotes.NONE;
  private final boolean[] itemCategorical;
  private final boolean[] itemBag;
  private final boolean[] itemDense;
  // the request's user and context inputs, and the row being assembled
  private final int[] sharedCategorical;
  private final int[][] sharedBags;
  private final float[] sharedDense;
  private final int[] categorical;
  private final int[][] bags;
  private final float[] dense;
  private final SharedRecord shared;
  private final CandidateRecord candidate;
  // A request's item ids and their stored entities: looked up together, one call to the store.
  private final List<String> itemIds = new ArrayList<>();
  private final StoredEntity[] storedItems;
  /** The item side of a candidate that is not cached; overwritten per candidate. */
  private final ItemRowCache.Row scratchRow;
  /** Null: every candidate is transformed. */
  private final ItemRowCache cache;
  /** Stored fields read as missing while transforming the current candidate. */
  private final List<String> unusableNow = new ArrayList<>();

  /**
   * Rows for {@code model}'s fields, at most {@code capacity} candidates a request, with the
   * model's item row cache ({@link ItemRowCache#DEFAULT_MAX_ROWS} rows unless set before).
   */
  public RequestRows(LoadedModel model, String userColumn, String itemColumn, int capacity) {
    this(model, userColumn, itemColumn, capacity, model.itemRows(ItemRowCache.DEFAULT_MAX_ROWS));
  }

  /**
   * As above, with the model's item row cache of about {@code itemCacheRows} rows (0: none) when
   * no call set its size before (see {@link ItemRowCache}).
   */
  public RequestRows(LoadedModel model, String userColumn, String itemColumn, int capacity, int itemCacheRows) {
    this(model, userColumn, itemColumn, capacity, model.itemRows(itemCacheRows));
  }

  /** As above, with {@code cache} (null: none) for item rows. */
  RequestRows(LoadedModel model, String userColumn, String itemColumn, int capacity, ItemRowCache cache) {
    this.userColumn = Objects.requireNonNull(userColumn, "userColumn");
    this.itemColumn = Objects.requireNonNull(itemColumn, "itemColumn");
    this.cache = cache;
    ModelConfig config = model.parameters().config();
    this.featurizer = new Featurizer(model.transforms(), field -> {
      unusableNow.add(field);
      notes.unusableStored(field);
    });
    this.batch = new Batch(config, capacity);
    this.storedItems = new StoredEntity[capacity];
    this.one = new Batch(config, 1);
    List<ModelConfig.Field> fields = config.fields();
    List<String> columns = model.transforms().columns();
    for (int f = 0; f < fields.size(); f++) {
      ModelConfig.Side side = fields.get(f).side();
      (side == ModelConfig.Side.ITEM ? itemColumns : sharedColumns).add(columns.get(f));
      if (side == ModelConfig.Side.USER) {
        userColumns.add(columns.get(f));
      }
    }
    for (var f : model.transforms().schemaFields()) {
      if (f.kind() == ModelConfig.FieldKind.BAG) {
        bagColumns.add(f.column());
      }
    }
    itemCategorical = itemSide(config.categoricalFields());
    itemBag = itemSide(config.bagFields());
    itemDense = itemSide(config.denseFields());
    sharedCategorical = new int[itemCategorical.length];
    sharedBags = new int[itemBag.length][];
    sharedDense = new float[itemDense.length];
    categorical = new int[itemCategorical.length];
    bags = new int[itemBag.length][];
    dense = new float[itemDense.length];
    shared = new SharedRecord();
    candidate = new CandidateRecord();
    scratchRow = new ItemRowCache.Row(null, new int[itemCategorical.length], new int[itemBag.length][],
        new float[itemDense.length], new String[0]);
  }

  private static boolean[] itemSide(List<ModelConfig.Field> fields) {
    boolean[] out = new boolean[fields.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = fields.get(i).side() == ModelConfig.Side.ITEM;
    }
    return out;
  }

  public int capacity() {
    return batch.capacity();
  }

  /** The rows of the last {@link #encode}d request, candidate {@code i} in row {@code i}. */
  public Batch batch() {
    return batch;
  }

  /** {@link #encode(RankRequest, OnlineStore)} without stored features. */
  public Batch encode(RankRequest request) {
    return encode(request, null);
  }

  /**
   * Encodes {@code request}'s candidates into {@link #batch()}, in request order, with the user's
   * and each item's stored features from {@code store} (none when null) under the request's own.
   * Throws {@link IllegalArgumentException} naming {@code context} or the candidate when a value
   * cannot be read by its field's transform (e.g. text for a dense field), or when there are more
   * candidates than the capacity.
   */
  public Batch encode(RankRequest request, OnlineStore store) {
    return encode(request, store, FeatureNotes.NONE);
  }

  /** {@link #encode(RankRequest, OnlineStore)}, telling {@code notes} what it ignored or read as missing. */
  public Batch encode(RankRequest request, OnlineStore store, FeatureNotes notes) {
    this.notes = Objects.requireNonNull(notes, "notes");
    try {
      Batch out = encodeRows(request, store);
      noteIgnored(request);
      return out;
    } finally {
      this.notes = FeatureNotes.NONE;
    }
  }

  private Batch encodeRows(RankRequest request, OnlineStore store) {
    int n = request.getCandidatesCount();
    if (n > batch.capacity()) {
      throw new IllegalArgumentException("candidates has " + n + " entries; at most " + batch.capacity() + " fit");
    }
    batch.clear();
    shared.set(request, store == null ? null : store.user(request.getUserId()));
    one.clear();
    try {
      featurizer.add(shared, one);
    } catch (BadRowException e) {
      throw new IllegalArgumentException("context: " + e.reason(), e);
    }
    for (int c = 0; c < sharedCategorical.length; c++) {
      sharedCategorical[c] = one.categorical(0, c);
    }
    for (int k = 0; k < sharedBags.length; k++) {
      sharedBags[k] = itemBag[k] ? null : one.bag(0, k);
    }
    for (int k = 0; k < sharedDense.length; k++) {
      sharedDense[k] = one.dense(0, k);
    }
    Map<String, FeatureValue> context = request.getContextMap();
    if (store != null) {
      itemIds.clear();
      for (int i = 0; i < n; i++) {
        itemIds.add(request.getCandidates(i).getItemId());
      }
      store.items(itemIds, n, storedItems);
    }
    boolean cacheable = cache != null && !contextHasItemField(context);
    for (int i = 0; i < n; i++) {
      Candidate c = request.getCandidates(i);
      String id = c.getItemId();
      StoredEntity stored = store == null ? null : storedItems[i];
      ItemRowCache.Row row;
      if (cacheable && c.getFeaturesCount() == 0) {
        row = cache.get(id, stored);
        if (row == null) {
          row = transformItem(i, c, context, stored, true);
          cache.put(id, row);
        } else {
          for (String field : row.unusable()) {
            notes.unusableStored(field);
          }
        }
      } else {
        row = transformItem(i, c, context, stored, false);
      }
      int[] itemCat = row.categorical();
      for (int j = 0; j < categorical.length; j++) {
        categorical[j] = itemCategorical[j] ? itemCat[j] : sharedCategorical[j];
      }
      int[][] itemBags = row.bags();
      for (int k = 0; k < bags.length; k++) {
        bags[k] = itemBag[k] ? itemBags[k] : sharedBags[k];
      }
      float[] itemDenseValues = row.dense();
      for (int k = 0; k < dense.length; k++) {
        dense[k] = itemDense[k] ? itemDenseValues[k] : sharedDense[k];
      }
      batch.add(categorical, bags, dense, null, null);
    }
    candidate.set(null, null, null);
    shared.set(null, null);
    Arrays.fill(storedItems, 0, n, null);
    return batch;
  }

  /**
   * Transforms candidate {@code i}'s item side. For the cache ({@code keep}) into a new row; else
   * into this object's reusable row, which the next call overwrites.
   */
  private ItemRowCache.Row transformItem(int i, Candidate c, Map<String, FeatureValue> context, StoredEntity stored,
      boolean keep) {
    candidate.set(c, context, stored);
    one.clear();
    unusableNow.clear();
    try {
      featurizer.add(candidate, one);
    } catch (BadRowException e) {
      throw new IllegalArgumentException("candidates[" + i + "] (item_id '" + Echo.of(c.getItemId()) + "'): " + e.reason(), e);
    }
    ItemRowCache.Row row = keep ? new ItemRowCache.Row(stored, new int[itemCategorical.length],
        new int[itemBag.length][], new float[itemDense.length], unusableNow.toArray(String[]::new)) : scratchRow;
    for (int j = 0; j < itemCategorical.length; j++) {
      row.categorical()[j] = itemCategorical[j] ? one.categorical(0, j) : 0;
    }
    for (int k = 0; k < itemBag.length; k++) {
      row.bags()[k] = itemBag[k] ? one.bag(0, k) : null;
    }
    for (int k = 0; k < itemDense.length; k++) {
      row.dense()[k] = itemDense[k] ? one.dense(0, k) : 0f;
    }
    return row;
  }

  /** True when the context holds a value an item field reads: rows then depend on the request. */
  private boolean contextHasItemField(Map<String, FeatureValue> context) {
    if (context.isEmpty()) {
      return false;
    }
    for (String key : context.keySet()) {
      if (itemColumns.contains(key) && !key.equals(itemColumn)) {
        return true;
      }
    }
    return false;
  }

  /** Tells {@link #notes} of every request feature no field read. */
  private void noteIgnored(RankRequest request) {
    for (Map.Entry<String, FeatureValue> e : request.getContextMap().entrySet()) {
      String key = e.getKey();
      boolean shared = sharedColumns.contains(key);
      if (!shared && !itemColumns.contains(key)) {
        notes.ignored(key, Ignored.UNKNOWN_FIELD);
      } else if (key.equals(userColumn) && shared || key.equals(itemColumn) && itemColumns.contains(key)) {
        notes.ignored(key, Ignored.ID_COLUMN);
      } else if (e.getValue().hasBag() && !bagColumns.contains(key)) {
        notes.ignored(key, Ignored.WRONG_KIND);
      }
    }
    for (int i = 0; i < request.getCandidatesCount(); i++) {
      Candidate c = request.getCandidates(i);
      if (c.getFeaturesCount() == 0) {
        continue;
      }
      for (Map.Entry<String, FeatureValue> e : c.getFeaturesMap().entrySet()) {
        String key = e.getKey();
        if (!itemColumns.contains(key)) {
          notes.ignored(key, sharedColumns.contains(key) ? Ignored.WRONG_SIDE : Ignored.UNKNOWN_FIELD);
        } else if (key.equals(itemColumn)) {
          notes.ignored(key, Ignored.ID_COLUMN);
        } else if (e.getValue().hasBag() && !bagColumns.contains(key)) {
          notes.ignored(key, Ignored.WRONG_KIND);
        }
      }
    }
  }

  /**
   * Values of one side's columns: the id column reads the id; other columns the request's value,
   * else (for {@code storedColumns}) the stored entity's; columns of the other side read as absent.
   */
  private abstract static class SideRecord implements RawRecord {
    private final Set<String> columns;
    private final Set<String> storedColumns;
    private final String idColumn;
    StoredEntity stored;

    SideRecord(Set<String> columns, Set<String> storedColumns, String idColumn) {
      this.columns = columns;
      this.storedColumns = storedColumns;
      this.idColumn = idColumn;
    }

    /** The id this record stands for. */
    abstract String id();

    /** The request's value for a column of this side other than the id, or null. */
    abstract FeatureValue requestValue(String column);

    private FeatureValue find(String column) {
      return columns.contains(column) && !column.equals(idColumn) ? requestValue(column) : null;
    }

    /** The stored entity when it may answer for {@code column} (not in the request), else null. */
    private StoredEntity fallback(String column, FeatureValue v) {
      return v == null && stored != null && storedColumns.contains(column) && !column.equals(idColumn) ? stored : null;
    }

    @Override
    public String value(String column) {
      if (columns.contains(column) && column.equals(idColumn)) {
        return id();
      }
      FeatureValue v = find(column);
      StoredEntity s = fallback(column, v);
      return s != null ? s.value(column) : RawRecord.text(v);
    }

    @Override
    public boolean isNumber(String column) {
      FeatureValue v = find(column);
      StoredEntity s = fallback(column, v);
      return s != null ? s.isNumber(column) : v != null && v.hasDense();
    }

    @Override
    public double number(String column) {
      FeatureValue v = find(column);
      StoredEntity s = fallback(column, v);
      return s != null ? s.number(column) : v.getDense();
    }

    @Override
    public boolean isStored(String column) {
      return fallback(column, find(column)) != null;
    }

    @Override
    public List<String> bag(String column, String separator) {
      FeatureValue v = find(column);
      StoredEntity s = fallback(column, v);
      if (s != null) {
        return s.bag(column, separator);
      }
      return v != null && v.hasBag() ? v.getBag().getValuesList() : RawRecord.super.bag(column, separator);
    }
  }

  /** The request's user and context values, then the user's stored ones (user fields only). */
  private final class SharedRecord extends SideRecord {
    private RankRequest request;

    SharedRecord() {
      super(sharedColumns, userColumns, userColumn);
    }

    void set(RankRequest r, StoredEntity user) {
      this.request = r;
      this.stored = user;
    }

    @Override
    String id() {
      return request.getUserId();
    }

    @Override
    FeatureValue requestValue(String column) {
      return request.getContextOrDefault(column, null);
    }
  }

  /** One candidate's item values over the request's context, then the item's stored ones. */
  private final class CandidateRecord extends SideRecord {
    private Candidate candidate;
    private Map<String, FeatureValue> context;

    CandidateRecord() {
      super(itemColumns, itemColumns, itemColumn);
    }

    void set(Candidate c, Map<String, FeatureValue> context, StoredEntity item) {
      this.candidate = c;
      this.context = context;
      this.stored = item;
    }

    @Override
    String id() {
      return candidate.getItemId();
    }

    @Override
    FeatureValue requestValue(String column) {
      FeatureValue v = candidate.getFeaturesOrDefault(column, null);
      return v != null ? v : context.get(column);
    }
  }
}
