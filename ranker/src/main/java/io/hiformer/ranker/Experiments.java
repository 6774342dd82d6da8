package io.hiformer.ranker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * An experiment file: a {@code salt} for unit hashing and the arms traffic is split across.
 *
 * <pre>
 * salt: exp-2026-11
 * arms:
 *   - {name: control, model: production, share: 0.5}
 *   - {name: clicks, model: 3, share: 0.3, score: {weighted_sum: {click: 0.7, like: 0.3}}}
 *   - {name: prod, model: 3, share: 0.2, score: {product: {click: 1, like: 0.5}}}
 * </pre>
 *
 * <p>Every invalid file fails {@link #parse} with an {@link IllegalArgumentException} naming the
 * arm and key. Task names in a score are checked against the arm's model by {@link Score#formula}.
 */
record Experiments(String salt, List<Arm> arms) {
  public static final Pattern ARM_NAME = Pattern.compile("[a-z][a-z0-9_-]*");
  /** How far the shares may sum from 1. */
  public static final double SHARE_TOLERANCE = 1e-9;

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  public Experiments {
    Objects.requireNonNull(salt, "salt");
    arms = List.copyOf(arms);
  }

  /** One arm: the model alias or version it serves, its traffic share and its score formula. */
  public record Arm(String name, String model, double share, Score score) {
    public Arm {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(score, "score");
    }
  }

  /** How an arm combines per-task probabilities: their mean, a weighted sum or a product of powers. */
  public record Score(Kind kind, Map<String, Double> weights) {
    public static final Score MEAN = new Score(Kind.MEAN, Map.of());

    public enum Kind { MEAN, WEIGHTED_SUM, PRODUCT }

    public Score {
      Objects.requireNonNull(kind, "kind");
      weights = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(weights));
    }

    /**
     * This score as a formula over the model's {@code tasks} (in model order); fails naming
     * {@code arm} when a weight names a task the model lacks.
     */
    public ProbabilityCombiner formula(String arm, List<String> tasks) {
      if (kind == Kind.MEAN) {
        return ProbabilityCombiner.MEAN;
      }
      double[] w = new double[tasks.size()];
      if (kind == Kind.PRODUCT) {
        // Tasks not listed get exponent 0 (they do not count).
        java.util.Arrays.fill(w, 0);
      }
      String key = kind == Kind.WEIGHTED_SUM ? "weighted_sum" : "product";
      for (Map.Entry<String, Double> e : weights.entrySet()) {
        int t = tasks.indexOf(e.getKey());
        if (t < 0) {
          throw new IllegalArgumentException("arm '" + arm + "': score." + key + " names task '" + e.getKey()
              + "', which the model does not have; its tasks: " + tasks);
        }
        w[t] = e.getValue();
      }
      if (kind == Kind.WEIGHTED_SUM) {
        return (p, offset, n) -> {
          double sum = 0;
          for (int t = 0; t < n; t++) {
            sum += w[t] * p[offset + t];
          }
          return (float) sum;
        };
      }
      return (p, offset, n) -> {
        double prod = 1;
        for (int t = 0; t < n; t++) {
          if (w[t] != 0) {
            prod *= Math.pow(p[offset + t], w[t]);
          }
        }
        return (float) prod;
      };
    }
  }

  /** The arm named {@code name}, or null. */
  public Arm arm(String name) {
    for (Arm a : arms) {
      if (a.name().equals(name)) {
        return a;
      }
    }
    return null;
  }

  /** Reads and parses {@code file}; messages name the file. */
  public static Experiments read(Path file) throws IOException {
    String text = Files.readString(file, StandardCharsets.UTF_8);
    try {
      return parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  /** Parses and validates an experiment file's YAML text. */
  public static Experiments parse(String yaml) {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (IOException e) {
      throw new IllegalArgumentException("not valid YAML: " + e.getMessage().lines().findFirst().orElse(""), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("the file must be a mapping with 'salt' and 'arms'");
    }
    checkKeys(root, "the file", Set.of("salt", "arms"));
    JsonNode salt = root.get("salt");
    if (salt == null || !salt.isValueNode() || salt.asText().isEmpty()) {
      throw new IllegalArgumentException("'salt' is missing or empty");
    }
    JsonNode armsNode = root.get("arms");
    if (armsNode == null || !armsNode.isArray() || armsNode.isEmpty()) {
      throw new IllegalArgumentException("'arms' must be a non-empty list");
    }
    List<Arm> arms = new ArrayList<>();
    Set<String> names = new HashSet<>();
    double total = 0;
    for (int i = 0; i < armsNode.size(); i++) {
      JsonNode a = armsNode.get(i);
      String where = "arms[" + i + "]";
      if (!a.isObject()) {
        throw new IllegalArgumentException(where + " must be a mapping with name, model, share and score");
      }
      JsonNode nameNode = a.get("name");
      if (nameNode == null || !nameNode.isTextual() || !ARM_NAME.matcher(nameNode.asText()).matches()) {
        throw new IllegalArgumentException(where + ": 'name' must match " + ARM_NAME.pattern() + ", got "
            + (nameNode == null ? "nothing" : "'" + nameNode.asText() + "'"));
      }
      String name = nameNode.asText();
      where = "arm '" + name + "'";
      if (!names.add(name)) {
        throw new IllegalArgumentException(where + ": 'name' is a duplicate");
      }
      checkKeys(a, where, Set.of("name", "model", "share", "score"));
      JsonNode model = a.get("model");
      if (model == null || !model.isValueNode() || model.asText().isBlank()) {
        throw new IllegalArgumentException(where + ": 'model' (an alias or version number) is missing");
      }
      JsonNode share = a.get("share");
      if (share == null || !share.isNumber()) {
        throw new IllegalArgumentException(where + ": 'share' must be a number above 0");
      }
      double s = share.asDouble();
      if (!(s > 0) || s > 1) {
        throw new IllegalArgumentException(where + ": 'share' must be above 0 and at most 1, got " + s);
      }
      total += s;
      arms.add(new Arm(name, model.asText(), s, score(where, a.get("score"))));
    }
    if (Math.abs(total - 1) > SHARE_TOLERANCE) {
      throw new IllegalArgumentException("the arms' 'share' values sum to " + total + "; they must sum to 1");
    }
    return new Experiments(salt.asText(), arms);
  }

  private static Score score(String where, JsonNode node) {
    if (node == null || node.isNull() || (node.isTextual() && node.asText().equals("mean"))) {
      return Score.MEAN;
    }
    if (!node.isObject() || node.size() != 1) {
      throw new IllegalArgumentException(where + ": 'score' must be 'mean', {weighted_sum: {task: weight}}"
          + " or {product: {task: exponent}}");
    }
    String key = node.fieldNames().next();
    Score.Kind kind = switch (key) {
      case "weighted_sum" -> Score.Kind.WEIGHTED_SUM;
      case "product" -> Score.Kind.PRODUCT;
      default -> throw new IllegalArgumentException(where + ": 'score' has unknown formula '" + key
          + "'; use mean, weighted_sum or product");
    };
    JsonNode body = node.get(key);
    if (!body.isObject() || body.isEmpty()) {
      throw new IllegalArgumentException(where + ": 'score." + key + "' must map task names to numbers");
    }
    Map<String, Double> weights = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = body.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isNumber() || !Double.isFinite(e.getValue().asDouble())) {
        throw new IllegalArgumentException(where + ": 'score." + key + "." + e.getKey() + "' must be a finite number");
      }
      weights.put(e.getKey(), e.getValue().asDouble());
    }
    return new Score(kind, weights);
  }

  private static void checkKeys(JsonNode node, String where, Set<String> allowed) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!allowed.contains(k)) {
        throw new IllegalArgumentException(where + ": unknown key '" + k + "'; expected " + new java.util.TreeSet<>(allowed));
      }
    }
  }
}
