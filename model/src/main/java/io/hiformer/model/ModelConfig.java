package io.hiformer.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A Hiformer model's shape (docs/model.md, Config): token dimension, heads, layers, tasks,
 * low-rank ranks, towers, the input fields in schema order and the attention {@link Variant}.
 * Immutable and validated on construction; {@link #toJson()} and {@link #fromJson(String)} are the
 * form stored in model files.
 */
public record ModelConfig(
    String name,
    int tokenDim,
    int heads,
    int layers,
    List<String> tasks,
    int rankK,
    int rankV,
    int ffnMult,
    List<Integer> towerHidden,
    int denseTokens,
    boolean pruneLastLayer,
    List<Field> fields,
    Variant variant) {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The default {@link Variant#HIFORMER} model. */
  public ModelConfig(String name, int tokenDim, int heads, int layers, List<String> tasks, int rankK, int rankV,
      int ffnMult, List<Integer> towerHidden, int denseTokens, boolean pruneLastLayer, List<Field> fields) {
    this(name, tokenDim, heads, layers, tasks, rankK, rankV, ffnMult, towerHidden, denseTokens, pruneLastLayer,
        fields, Variant.HIFORMER);
  }

  public ModelConfig {
    require(variant != null, "variant must not be null");
    tasks = List.copyOf(tasks);
    towerHidden = List.copyOf(towerHidden);
    fields = List.copyOf(fields);
    require(tokenDim > 0, "token_dim must be positive, got " + tokenDim);
    require(heads > 0 && tokenDim % heads == 0,
        "heads must be positive and divide token_dim " + tokenDim + ", got " + heads);
    require(layers > 0, "layers must be positive, got " + layers);
    require(!tasks.isEmpty(), "tasks must name at least one task");
    require(Set.copyOf(tasks).size() == tasks.size(), "task names must be unique: " + tasks);
    require(rankK > 0, "rank_k must be positive, got " + rankK);
    require(rankV > 0, "rank_v must be positive, got " + rankV);
    require(ffnMult > 0, "ffn_mult must be positive, got " + ffnMult);
    for (int w : towerHidden) {
      require(w > 0, "tower_hidden widths must be positive, got " + towerHidden);
    }
    Set<String> names = new HashSet<>();
    int dense = 0;
    for (Field f : fields) {
      require(names.add(f.name()), "duplicate field name '" + f.name() + "'");
      if (f.kind() == FieldKind.DENSE) {
        dense++;
      }
    }
    require(dense == 0 || denseTokens > 0,
        "dense_tokens must be positive when there are dense fields, got " + denseTokens);
    require(denseTokens >= 0, "dense_tokens must not be negative, got " + denseTokens);
    require(fields.size() - dense + (dense > 0 ? denseTokens : 0) + tasks.size() > 0, "no tokens");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException("invalid model config: " + message);
    }
  }

  /** This config with another attention variant; everything else unchanged. */
  public ModelConfig withVariant(Variant v) {
    return new ModelConfig(name, tokenDim, heads, layers, tasks, rankK, rankV, ffnMult, towerHidden, denseTokens,
        pruneLastLayer, fields, v);
  }

  /**
   * The attention layer, config key {@code variant} (ablations of the Hiformer paper):
   * <ul>
   *   <li>{@code hiformer} (the default, omitted from JSON): per-row queries, composite low-rank keys
   *       and values (docs/model.md, Layer);</li>
   *   <li>{@code hetero}: the heterogeneous attention layer: per-row queries and per-token key and
   *       value projections {@code K_i = Z_i·wk[i]}, {@code V_i = Z_i·wv[i]} ({@code [L, d, d]});
   *       {@code rank_k} and {@code rank_v} are unused;</li>
   *   <li>{@code vanilla}: a plain Transformer layer, one {@code [d, d]} query, key, value and output
   *       projection and one FFN shared by all rows; {@code rank_k} and {@code rank_v} are unused.</li>
   * </ul>
   */
  public enum Variant {
    HIFORMER, HETERO, VANILLA;

    public String json() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The variant named {@code value} (exact lower case, as in JSON). */
    public static Variant fromJson(String value) {
      for (Variant v : values()) {
        if (v.json().equals(value)) {
          return v;
        }
      }
      throw new IllegalArgumentException("invalid model config: unknown variant '" + value
          + "' (expected hiformer, hetero or vanilla)");
    }
  }

  /** Feature kinds (docs/model.md, Tokens). */
  public enum FieldKind {
    CATEGORICAL, BAG, DENSE;

    String json() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** Which entity a field describes; the ranker gathers user and context once per request. */
  public enum Side {
    USER, ITEM, CONTEXT;

    String json() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** One input field. {@code vocab} is the embedding table's row count (0 for dense fields). */
  public record Field(String name, FieldKind kind, Side side, int vocab) {
    public Field {
      if (name == null || name.isEmpty()) {
        throw new IllegalArgumentException("invalid model config: a field has no name");
      }
      if (kind != FieldKind.DENSE && vocab <= 0) {
        throw new IllegalArgumentException(
            "invalid model config: field '" + name + "' needs a positive vocab, got " + vocab);
      }
    }

    public boolean embedded() {
      return kind != FieldKind.DENSE;
    }
  }

  // ---- derived sizes -------------------------------------------------------------------------

  public int numTasks() {
    return tasks.size();
  }

  public int headDim() {
    return tokenDim / heads;
  }

  public int ffnDim() {
    return ffnMult * tokenDim;
  }

  public List<Field> categoricalFields() {
    return fields.stream().filter(f -> f.kind() == FieldKind.CATEGORICAL).toList();
  }

  public List<Field> bagFields() {
    return fields.stream().filter(f -> f.kind() == FieldKind.BAG).toList();
  }

  public List<Field> denseFields() {
    return fields.stream().filter(f -> f.kind() == FieldKind.DENSE).toList();
  }

  /** Fields with an embedding table, in schema order: one token each. */
  public List<Field> embeddedFields() {
    return fields.stream().filter(Field::embedded).toList();
  }

  /**
   * Where a {@link Batch} holds each embedded field's ids, in {@link #embeddedFields} order: its
   * column among the categorical fields ({@code >= 0}), or {@code -1 - k} for the k-th bag field.
   */
  public int[] embeddedSlots() {
    List<Field> embedded = embeddedFields();
    int[] slots = new int[embedded.size()];
    int cat = 0;
    int bag = 0;
    for (int e = 0; e < slots.length; e++) {
      slots[e] = embedded.get(e).kind() == FieldKind.BAG ? -1 - bag++ : cat++;
    }
    return slots;
  }

  public int numDense() {
    return denseFields().size();
  }

  /** Dense tokens actually present: none without dense fields. */
  public int effectiveDenseTokens() {
    return numDense() > 0 ? denseTokens : 0;
  }

  /** L: tokens per example. */
  public int numTokens() {
    return embeddedFields().size() + effectiveDenseTokens() + numTasks();
  }

  /** R for layer {@code l}: T for a pruned last layer, else L. */
  public int rows(int layer) {
    return pruneLastLayer && layer == layers - 1 ? numTasks() : numTokens();
  }

  /** Multiply-adds ×2 of one candidate's forward pass, for throughput figures. */
  public long forwardFlops() {
    long d = tokenDim;
    long l = numTokens();
    long flops = 2L * numDense() * effectiveDenseTokens() * d;
    for (int layer = 0; layer < layers; layer++) {
      long r = rows(layer);
      if (variant == Variant.HIFORMER) {
        flops += 2L * l * d * (rankK + rankV) * 2;  // z·U and (z·U)·V for keys and values
      } else {
        flops += 2L * l * d * d * 2;                // key and value projections of every token
      }
      flops += 2L * r * d * d * 2;                // per-row query and output projections
      flops += 2L * r * l * d * 2;                // scores and weighted values
      flops += 2L * r * d * ffnDim() * 2;         // FFN
    }
    long in = d;
    for (int w : towerHidden) {
      flops += 2L * in * w * numTasks();
      in = w;
    }
    flops += 2L * in * numTasks();
    return flops;
  }

  // ---- JSON ----------------------------------------------------------------------------------

  public static ModelConfig fromJson(String json) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("invalid model config: not JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("invalid model config: not a JSON object");
    }
    List<String> tasks = new ArrayList<>();
    for (JsonNode t : array(root, "tasks")) {
      tasks.add(text(t, "tasks[]"));
    }
    List<Integer> tower = new ArrayList<>();
    for (JsonNode t : array(root, "tower_hidden")) {
      tower.add(integer(t, "tower_hidden[]"));
    }
    List<Field> fields = new ArrayList<>();
    for (JsonNode f : array(root, "fields")) {
      if (!f.isObject()) {
        throw new IllegalArgumentException("invalid model config: fields[] must be objects");
      }
      String fname = text(f.get("name"), "fields[].name");
      FieldKind kind = enumValue(FieldKind.class, text(f.get("kind"), "field '" + fname + "' kind"), fname);
      Side side = enumValue(Side.class, text(f.get("side"), "field '" + fname + "' side"), fname);
      int vocab = kind == FieldKind.DENSE ? 0 : integer(f.get("vocab"), "field '" + fname + "' vocab");
      fields.add(new Field(fname, kind, side, vocab));
    }
    JsonNode prune = root.get("prune_last_layer");
    if (prune != null && !prune.isBoolean()) {
      throw new IllegalArgumentException("invalid model config: prune_last_layer must be true or false");
    }
    JsonNode name = root.get("name");
    JsonNode variant = root.get("variant");
    return new ModelConfig(
        name == null || name.isNull() ? "" : text(name, "name"),
        integer(root.get("token_dim"), "token_dim"),
        integer(root.get("heads"), "heads"),
        integer(root.get("layers"), "layers"),
        tasks,
        integer(root.get("rank_k"), "rank_k"),
        integer(root.get("rank_v"), "rank_v"),
        integer(root.get("ffn_mult"), "ffn_mult"),
        tower,
        root.has("dense_tokens") ? integer(root.get("dense_tokens"), "dense_tokens") : 0,
        prune == null || prune.booleanValue(),
        fields,
        variant == null ? Variant.HIFORMER : Variant.fromJson(text(variant, "variant")));
  }

  public String toJson() {
    ObjectNode root = JSON.createObjectNode();
    if (!name.isEmpty()) {
      root.put("name", name);
    }
    root.put("token_dim", tokenDim);
    root.put("heads", heads);
    root.put("layers", layers);
    ArrayNode t = root.putArray("tasks");
    tasks.forEach(t::add);
    root.put("rank_k", rankK);
    root.put("rank_v", rankV);
    root.put("ffn_mult", ffnMult);
    ArrayNode th = root.putArray("tower_hidden");
    towerHidden.forEach(th::add);
    root.put("dense_tokens", denseTokens);
    root.put("prune_last_layer", pruneLastLayer);
    if (variant != Variant.HIFORMER) {   // omitted by default: hiformer configs stay as they were
      root.put("variant", variant.json());
    }
    ArrayNode fs = root.putArray("fields");
    for (Field f : fields) {
      ObjectNode o = fs.addObject();
      o.put("name", f.name());
      o.put("kind", f.kind().json());
      o.put("side", f.side().json());
      if (f.embedded()) {
        o.put("vocab", f.vocab());
      }
    }
    return root.toString();
  }

  private static Iterable<JsonNode> array(JsonNode root, String key) {
    JsonNode n = root.get(key);
    if (n == null || !n.isArray()) {
      throw new IllegalArgumentException("invalid model config: '" + key + "' must be a list");
    }
    return n;
  }

  private static String text(JsonNode n, String what) {
    if (n == null || !n.isTextual()) {
      throw new IllegalArgumentException("invalid model config: " + what + " must be a string");
    }
    return n.textValue();
  }

  private static int integer(JsonNode n, String what) {
    if (n == null || !n.isIntegralNumber() || !n.canConvertToInt()) {
      throw new IllegalArgumentException("invalid model config: " + what + " must be an integer");
    }
    return n.intValue();
  }

  private static <E extends Enum<E>> E enumValue(Class<E> type, String value, String field) {
    for (E e : type.getEnumConstants()) {
      if (e.name().equalsIgnoreCase(value)) {
        return e;
      }
    }
    throw new IllegalArgumentException(
        "invalid model config: field '" + field + "' has unknown " + type.getSimpleName().toLowerCase(java.util.Locale.ROOT)
            + " '" + value + "'");
  }
}
