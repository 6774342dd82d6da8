package io.hiformer.features;

import static io.hiformer.features.SchemaNodes.choice;
import static io.hiformer.features.SchemaNodes.error;
import static io.hiformer.features.SchemaNodes.flag;
import static io.hiformer.features.SchemaNodes.list;
import static io.hiformer.features.SchemaNodes.lower;
import static io.hiformer.features.SchemaNodes.numbers;
import static io.hiformer.features.SchemaNodes.positiveInt;
import static io.hiformer.features.SchemaNodes.positiveLong;
import static io.hiformer.features.SchemaNodes.requireObject;
import static io.hiformer.features.SchemaNodes.scalar;
import static io.hiformer.features.SchemaNodes.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hiformer.features.FeatureSchema.Field;
import io.hiformer.features.FeatureSchema.Join;
import io.hiformer.features.FeatureSchema.LibFm;
import io.hiformer.features.FeatureSchema.Task;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes schema parts as Jackson trees. The YAML schema and the fitted transforms
 * JSON share the field and task encoding, so both go through the same validation.
 */
final class SchemaJson {
  static final ObjectMapper JSON = new ObjectMapper();

  private static final Set<String> TOP_KEYS = Set.of("fields", "tasks", "missing_values", "joins", "libfm");
  private static final Set<String> FIELD_KEYS = Set.of("name", "kind", "side", "column", "min_count",
      "max_vocabulary", "hash_buckets", "separator", "clip", "log1p", "standardize", "bucketize", "open", "ttl");
  private static final Set<String> TASK_KEYS = Set.of("name", "column", "positive");
  private static final Set<String> DENSE_ONLY = Set.of("clip", "log1p", "standardize", "bucketize");
  private static final Set<String> EMBEDDED_ONLY = Set.of("min_count", "max_vocabulary", "hash_buckets", "open", "ttl");
  static final String DEFAULT_SEPARATOR = "|";

  private SchemaJson() {}

  static FeatureSchema schema(JsonNode root) {
    if (root == null || root.isMissingNode() || root.isNull()) {
      throw error("schema", "the document is empty");
    }
    requireObject(root, "schema", TOP_KEYS);
    List<Field> fields = new ArrayList<>();
    Set<String> names = new HashSet<>();
    int i = 0;
    for (JsonNode f : list(root, "fields", "schema", true)) {
      Field field = field(f, "fields[" + i++ + "]");
      if (!names.add(field.name())) {
        throw error("field '" + field.name() + "'", "is declared twice");
      }
      fields.add(field);
    }
    if (fields.isEmpty()) {
      throw error("schema", "'fields' must declare at least one field");
    }
    List<Task> tasks = tasks(list(root, "tasks", "schema", true));
    List<String> missing = new ArrayList<>();
    for (JsonNode m : list(root, "missing_values", "schema", false)) {
      missing.add(scalar(m, "schema", "missing_values[]"));
    }
    List<Join> joins = new ArrayList<>();
    i = 0;
    for (JsonNode j : list(root, "joins", "schema", false)) {
      String where = "joins[" + i++ + "]";
      requireObject(j, where, Set.of("file", "key"));
      joins.add(new Join(text(j, "file", where, null), text(j, "key", where, null)));
    }
    return new FeatureSchema(fields, tasks, missing, joins, libFm(root.get("libfm")));
  }

  static List<Task> tasks(JsonNode list) {
    List<Task> tasks = new ArrayList<>();
    Set<String> names = new HashSet<>();
    int i = 0;
    for (JsonNode t : list) {
      Task task = task(t, "tasks[" + i++ + "]");
      if (!names.add(task.name())) {
        throw error("task '" + task.name() + "'", "is declared twice");
      }
      tasks.add(task);
    }
    if (tasks.isEmpty()) {
      throw error("schema", "'tasks' must name at least one label column");
    }
    return tasks;
  }

  static Field field(JsonNode node, String position) {
    String name = node.isObject() ? text(node, "name", position, null) : null;
    String where = name == null ? position : "field '" + name + "'";
    requireObject(node, where, FIELD_KEYS);
    if (name.isEmpty()) {
      throw error(position, "name must not be empty");
    }
    FieldKind kind = choice(FieldKind.class, text(node, "kind", where, null), where, "kind");
    Side side = choice(Side.class, text(node, "side", where, null), where, "side");
    String column = text(node, "column", where, name);
    for (Iterator<String> keys = node.fieldNames(); keys.hasNext(); ) {
      String key = keys.next();
      if (kind == FieldKind.DENSE ? EMBEDDED_ONLY.contains(key) || key.equals("separator")
          : DENSE_ONLY.contains(key) || key.equals("separator") && kind != FieldKind.BAG) {
        throw error(where, "'" + key + "' does not apply to a " + lower(kind) + " field");
      }
    }
    if ((node.has("min_count") || node.has("max_vocabulary")) && node.has("hash_buckets")) {
      throw error(where, "give either min_count / max_vocabulary (a fitted vocabulary) or hash_buckets, not both");
    }
    int minCount = positiveInt(node, "min_count", where, 1);
    int maxVocabulary = node.has("max_vocabulary") ? positiveInt(node, "max_vocabulary", where, 0) : 0;
    int hashBuckets = node.has("hash_buckets") ? positiveInt(node, "hash_buckets", where, 0) : 0;
    boolean open = flag(node, "open", where);
    if (node.has("ttl") && !open) {
      throw error(where, "ttl applies only to an open field (open: true)");
    }
    if (open && hashBuckets > 0) {
      throw error(where, "an open field grows a vocabulary; it cannot also use hash_buckets");
    }
    if (open && maxVocabulary == 0) {
      throw error(where, "an open field needs max_vocabulary: the bound on its embedding rows");
    }
    if (open && maxVocabulary > OpenVocabulary.MAX_ROWS) {
      throw error(where, "max_vocabulary of an open field must be at most " + OpenVocabulary.MAX_ROWS
          + " (its table is allocated whole), got " + maxVocabulary);
    }
    long ttl = node.has("ttl") ? positiveLong(node, "ttl", where) : 0;
    String separator = text(node, "separator", where, DEFAULT_SEPARATOR);
    if (separator.isEmpty()) {
      throw error(where, "separator must not be empty");
    }
    double[] clip = {Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY};
    if (node.has("clip")) {
      List<Double> c = numbers(node.get("clip"), where, "clip");
      if (c.size() != 2 || c.get(0) > c.get(1)) {
        throw error(where, "clip must be [low, high] with low <= high, got " + node.get("clip"));
      }
      clip = new double[] {c.get(0), c.get(1)};
    }
    List<Double> bucketize = node.has("bucketize") ? numbers(node.get("bucketize"), where, "bucketize") : List.of();
    for (int b = 1; b < bucketize.size(); b++) {
      if (!(bucketize.get(b) > bucketize.get(b - 1))) {
        throw error(where, "bucketize boundaries must be strictly increasing, got " + bucketize);
      }
    }
    if (node.has("bucketize") && bucketize.isEmpty()) {
      throw error(where, "bucketize needs at least one boundary");
    }
    boolean standardize = flag(node, "standardize", where);
    if (standardize && !bucketize.isEmpty()) {
      throw error(where, "give either standardize or bucketize, not both");
    }
    return new Field(name, kind, side, column, minCount, maxVocabulary, hashBuckets, separator,
        clip[0], clip[1], flag(node, "log1p", where), standardize, bucketize, open, ttl);
  }

  static ObjectNode toJson(Field f) {
    ObjectNode o = JSON.createObjectNode();
    o.put("name", f.name());
    o.put("kind", lower(f.kind()));
    o.put("side", lower(f.side()));
    o.put("column", f.column());
    if (f.kind() != FieldKind.DENSE) {
      if (f.hashed()) {
        o.put("hash_buckets", f.hashBuckets());
      } else {
        o.put("min_count", f.minCount());
        if (f.maxVocabulary() > 0) {
          o.put("max_vocabulary", f.maxVocabulary());
        }
        if (f.open()) {
          o.put("open", true);
          if (f.ttl() > 0) {
            o.put("ttl", f.ttl());
          }
        }
      }
    }
    if (f.kind() == FieldKind.BAG) {
      o.put("separator", f.separator());
    }
    if (f.kind() == FieldKind.DENSE) {
      if (Double.isFinite(f.clipLow())) {
        o.putArray("clip").add(f.clipLow()).add(f.clipHigh());
      }
      o.put("log1p", f.log1p());
      o.put("standardize", f.standardize());
      if (!f.bucketize().isEmpty()) {
        ArrayNode b = o.putArray("bucketize");
        f.bucketize().forEach(b::add);
      }
    }
    return o;
  }

  static Task task(JsonNode node, String position) {
    String name = node.isObject() ? text(node, "name", position, null) : null;
    String where = name == null ? position : "task '" + name + "'";
    requireObject(node, where, TASK_KEYS);
    String column = text(node, "column", where, name);
    JsonNode positive = node.get("positive");
    if (positive == null) {
      return new Task(name, column, List.of(), 0.5);
    }
    requireObject(positive, where + " positive", Set.of("above", "equals"));
    if (positive.size() != 1) {
      throw error(where, "positive must have exactly one rule: {above: number} or {equals: value(s)}");
    }
    if (positive.has("above")) {
      List<Double> above = numbers(JSON.createArrayNode().add(positive.get("above")), where, "positive.above");
      return new Task(name, column, List.of(), above.getFirst());
    }
    JsonNode equals = positive.get("equals");
    List<String> values = new ArrayList<>();
    for (JsonNode v : equals.isArray() ? equals : JSON.createArrayNode().add(equals)) {
      values.add(scalar(v, where, "positive.equals"));
    }
    if (values.isEmpty()) {
      throw error(where, "positive.equals needs at least one value");
    }
    return new Task(name, column, values, Double.NaN);
  }

  static ObjectNode toJson(Task t) {
    ObjectNode o = JSON.createObjectNode();
    o.put("name", t.name());
    o.put("column", t.column());
    ObjectNode p = o.putObject("positive");
    if (t.positiveValues().isEmpty()) {
      p.put("above", t.positiveAbove());
    } else {
      ArrayNode eq = p.putArray("equals");
      t.positiveValues().forEach(eq::add);
    }
    return o;
  }

  private static LibFm libFm(JsonNode node) {
    if (node == null) {
      return LibFm.defaults();
    }
    requireObject(node, "libfm", Set.of("label", "fields"));
    List<LibFm.Range> ranges = new ArrayList<>();
    JsonNode fields = node.get("fields");
    if (fields != null) {
      requireObject(fields, "libfm.fields", null);
      for (Map.Entry<String, JsonNode> e : fields.properties()) {
        String where = "libfm.fields." + e.getKey();
        List<Double> r = numbers(e.getValue(), where, "range");
        if (r.size() != 2 || r.get(0) < 0 || r.get(0) > r.get(1) || r.get(0) % 1 != 0 || r.get(1) % 1 != 0) {
          throw error(where, "must be [first, last]: whole numbers with 0 <= first <= last, got " + e.getValue());
        }
        ranges.add(new LibFm.Range(e.getKey(), r.get(0).longValue(), r.get(1).longValue()));
      }
    }
    List<LibFm.Range> sorted = new ArrayList<>(ranges);
    sorted.sort(Comparator.comparingLong(LibFm.Range::first));
    for (int i = 1; i < sorted.size(); i++) {
      if (sorted.get(i).first() <= sorted.get(i - 1).last()) {
        throw error("libfm.fields", "ranges of '" + sorted.get(i - 1).column() + "' and '"
            + sorted.get(i).column() + "' overlap");
      }
    }
    return new LibFm(text(node, "label", "libfm", "label"), ranges);
  }
}
