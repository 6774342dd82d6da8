package io.hiformer.features;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hiformer.features.FeatureSchema.Task;
import io.hiformer.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * Feature transforms fitted on training data: one per schema field, plus the label rules.
 * Stored in the model file's metadata under {@link #METADATA_KEY} ({@link #toJson()}) so
 * serving turns raw values into exactly the inputs training used. Immutable, except the live view
 * of {@link OpenVocabularies#current()}, whose open fields grow as training observes examples.
 */
public final class Transforms {
  /** The model file metadata key that holds {@link #toJson()}. */
  public static final String METADATA_KEY = "transforms";
  private static final int FORMAT = 1;

  final List<FieldTransform> fields;
  final List<Task> tasks;
  final List<String> missingValues;

  Transforms(List<FieldTransform> fields, List<Task> tasks, List<String> missingValues) {
    this.fields = List.copyOf(fields);
    this.tasks = List.copyOf(tasks);
    this.missingValues = List.copyOf(missingValues);
  }

  /** Fits in one pass; the first bad row stops it. */
  public static Transforms fit(FeatureSchema schema, Iterable<? extends RawRecord> records) {
    return fit(schema, records, BadRows.none());
  }

  /**
   * Fits vocabularies (ids by descending count, then value) and dense statistics in one pass.
   * Memory is bounded whatever the number of distinct values: counts past a budget spill to
   * temporary files and are merged exactly at the end ({@link VocabularyCounter}); a field's
   * {@code max_vocabulary} bounds the fitted vocabulary. A bad row goes to {@code badRows} and
   * contributes nothing.
   */
  public static Transforms fit(FeatureSchema schema, Iterable<? extends RawRecord> records, BadRows badRows) {
    return fit(schema, records, badRows, new ArrayList<>());
  }

  /**
   * Like {@link #fit(FeatureSchema, Iterable, BadRows)}, adding to {@code warnings} one line per
   * field that would train as a dead feature (no value in any record, or a {@code min_count}
   * that empties its vocabulary).
   */
  public static Transforms fit(FeatureSchema schema, Iterable<? extends RawRecord> records, BadRows badRows,
      List<String> warnings) {
    try (TransformFitter fitter = new TransformFitter(schema)) {
      for (RawRecord record : records) {
        try {
          fitter.add(record);
        } catch (BadRowException e) {
          badRows.reject(e);
        }
      }
      Transforms fitted = fitter.fitted();
      warnings.addAll(fitter.warnings());
      return fitted;
    }
  }

  /** The model's input fields in schema order, with vocabulary sizes; bucketized fields are categorical. */
  public List<ModelConfig.Field> modelFields() {
    List<ModelConfig.Field> out = new ArrayList<>();
    for (FieldTransform f : fields) {
      out.add(new ModelConfig.Field(f.spec.name(), f.spec.modelKind(), f.spec.side(), f.vocabSize()));
    }
    return out;
  }

  /** The schema fields the transforms were fitted for, in schema order: raw columns, kinds and sides. */
  public List<FeatureSchema.Field> schemaFields() {
    return fields.stream().map(f -> f.spec).toList();
  }

  /** The raw column each model field reads, in {@link #modelFields()} order. */
  public List<String> columns() {
    return fields.stream().map(f -> f.spec.column()).toList();
  }

  /** Task names in schema order: the model config's {@code tasks}. */
  public List<String> tasks() {
    return tasks.stream().map(Task::name).toList();
  }

  public String toJson() {
    ObjectNode root = SchemaJson.JSON.createObjectNode();
    root.put("format", FORMAT);
    ArrayNode missing = root.putArray("missing_values");
    missingValues.forEach(missing::add);
    ArrayNode ts = root.putArray("tasks");
    tasks.forEach(t -> ts.add(SchemaJson.toJson(t)));
    ArrayNode fs = root.putArray("fields");
    for (FieldTransform f : fields) {
      ObjectNode o = SchemaJson.toJson(f.spec);
      if (f.open != null) {
        o.set("vocabulary", f.open.vocabularyJson());
        o.set("open_state", f.open.stateJson());
      } else if (f.spec.modelKind() != ModelConfig.FieldKind.DENSE && !f.spec.hashed() && f.spec.bucketize().isEmpty()) {
        ArrayNode vocab = o.putArray("vocabulary");
        f.vocabulary.forEach(vocab::add);
      }
      if (f.spec.kind() == ModelConfig.FieldKind.DENSE) {
        o.put("mean", f.mean);
        o.put("std", f.std);
      }
      fs.add(o);
    }
    return root.toString();
  }

  /**
   * Whether {@code other} turns raw values into the same inputs as these transforms for every field
   * that is not open: open fields' vocabularies grow from version to version, the rest is fixed.
   */
  public boolean sameFixedFields(Transforms other) {
    return withoutOpenVocabularies().equals(other.withoutOpenVocabularies());
  }

  private String withoutOpenVocabularies() {
    JsonNode root;
    try {
      root = SchemaJson.JSON.readTree(toJson());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    for (JsonNode f : root.path("fields")) {
      if (f.has("open_state")) {
        ((ObjectNode) f).remove(List.of("vocabulary", "open_state"));
      }
    }
    return root.toString();
  }

  /** Whether a field is open: its vocabulary grows in training ({@link OpenVocabularies}). */
  public boolean hasOpenFields() {
    return fields.stream().anyMatch(f -> f.open != null);
  }

  /** A copy whose open vocabularies are independent of these (the fixed fields are shared: immutable). */
  Transforms copy() {
    return new Transforms(fields.stream().map(f -> f.open == null ? f : new FieldTransform(f.spec, f.open.copy(f.spec)))
        .toList(), tasks, missingValues);
  }

  /** Reads {@link #toJson()}'s output; throws IllegalArgumentException when it is not valid. */
  public static Transforms fromJson(String json) {
    JsonNode root;
    try {
      root = SchemaJson.JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("transforms: not JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject() || root.path("format").asInt() != FORMAT) {
      throw new IllegalArgumentException("transforms: expected a JSON object with \"format\": " + FORMAT);
    }
    List<String> missing = new ArrayList<>();
    root.path("missing_values").forEach(m -> missing.add(m.asText()));
    List<Task> tasks = SchemaJson.tasks(root.path("tasks"));
    List<FieldTransform> fields = new ArrayList<>();
    int i = 0;
    for (JsonNode node : root.path("fields")) {
      ObjectNode spec = node.deepCopy();
      JsonNode vocab = spec.remove("vocabulary");
      JsonNode mean = spec.remove("mean");
      JsonNode std = spec.remove("std");
      JsonNode openState = spec.remove("open_state");
      var field = SchemaJson.field(spec, "fields[" + i++ + "]");
      if (field.open()) {
        fields.add(new FieldTransform(field, OpenVocabulary.fromJson(field, vocab, openState)));
        continue;
      }
      List<String> values = new ArrayList<>();
      if (vocab != null) {
        vocab.forEach(v -> values.add(v.asText()));
      }
      fields.add(new FieldTransform(field, values,
          mean == null ? 0 : mean.asDouble(), std == null ? 1 : std.asDouble()));
    }
    if (fields.isEmpty()) {
      throw new IllegalArgumentException("transforms: no fields");
    }
    return new Transforms(fields, tasks, missing);
  }
}
