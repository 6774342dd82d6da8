package io.hiformer.features;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import java.util.List;

/**
 * The raw fields, labels and data layout of a data set, parsed from YAML (see
 * {@code features/README.md} for every key). Immutable and validated: a mistake is reported with
 * the name of the field or task it concerns.
 */
public record FeatureSchema(
    List<Field> fields, List<Task> tasks, List<String> missingValues, List<Join> joins, LibFm libFm) {

  public FeatureSchema {
    fields = List.copyOf(fields);
    tasks = List.copyOf(tasks);
    missingValues = List.copyOf(missingValues);
    joins = List.copyOf(joins);
  }

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  /** Parses and validates a schema; throws IllegalArgumentException naming what is wrong. */
  public static FeatureSchema parse(String yaml) {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("feature schema: not valid YAML: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")"));
    }
    return SchemaJson.schema(root);
  }

  /**
   * One raw field. Categorical and bag fields use a fitted vocabulary ({@code minCount}; at most
   * the {@code maxVocabulary} most frequent values when it is above 0) unless
   * {@code hashBuckets > 0}. Dense fields apply, in this order: clip to
   * [{@code clipLow}, {@code clipHigh}], signed {@code log1p}, then {@code standardize} or
   * {@code bucketize} (which makes the model field categorical). An {@code open} categorical or
   * bag field grows its vocabulary from the training stream ({@link OpenVocabulary}): its table
   * has {@code maxVocabulary} rows besides row 0, and an id unseen for {@code ttl} examples
   * (0: never) expires.
   */
  public record Field(
      String name, FieldKind kind, Side side, String column,
      int minCount, int maxVocabulary, int hashBuckets, String separator,
      double clipLow, double clipHigh, boolean log1p, boolean standardize, List<Double> bucketize,
      boolean open, long ttl) {

    public Field {
      bucketize = List.copyOf(bucketize);
    }

    /** The kind the model sees: bucketized dense fields become categorical. */
    FieldKind modelKind() {
      return kind == FieldKind.DENSE && !bucketize.isEmpty() ? FieldKind.CATEGORICAL : kind;
    }

    boolean hashed() {
      return hashBuckets > 0;
    }
  }

  /**
   * A label column. Positive when its text is one of {@code positiveValues}, or, when that list
   * is empty, when its number is above {@code positiveAbove}.
   */
  public record Task(String name, String column, List<String> positiveValues, double positiveAbove) {
    public Task {
      positiveValues = List.copyOf(positiveValues);
    }
  }

  /** A side table (CSV or TSV, by extension) joined onto records by {@code key}. */
  public record Join(String file, String key) {}

  /**
   * How libFM / libSVM lines map to columns: the leading label goes to {@code labelColumn};
   * an {@code index:value} token goes to the column of the range holding its index (or to a
   * column named by the index when none does); a libFFM {@code field:index:value} token goes
   * to column {@code field}.
   */
  public record LibFm(String labelColumn, List<Range> ranges) {
    public LibFm {
      ranges = List.copyOf(ranges);
    }

    /** Global feature indices {@code first..last} (inclusive) belong to {@code column}. */
    public record Range(String column, long first, long last) {}

    public static LibFm defaults() {
      return new LibFm("label", List.of());
    }
  }
}
