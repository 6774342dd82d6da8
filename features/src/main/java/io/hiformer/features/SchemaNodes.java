package io.hiformer.features;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/** Typed reads from schema trees whose errors say where in the schema the problem is. */
final class SchemaNodes {
  private SchemaNodes() {}

  static IllegalArgumentException error(String where, String message) {
    return new IllegalArgumentException("feature schema: " + where + ": " + message);
  }

  static void requireObject(JsonNode node, String where, Set<String> keys) {
    if (!node.isObject()) {
      throw error(where, "must be a mapping of keys to values, got " + node.getNodeType().name().toLowerCase(Locale.ROOT));
    }
    if (keys == null) {
      return;
    }
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String key = it.next();
      if (!keys.contains(key)) {
        throw error(where, "unknown key '" + key + "' (known: " + String.join(", ", new TreeSet<>(keys)) + ")");
      }
    }
  }

  static JsonNode list(JsonNode root, String key, String where, boolean required) {
    JsonNode n = root.get(key);
    if (n == null || n.isNull()) {
      if (required) {
        throw error(where, "'" + key + "' is required");
      }
      return SchemaJson.JSON.createArrayNode();
    }
    if (!n.isArray()) {
      throw error(where, "'" + key + "' must be a list");
    }
    return n;
  }

  static String text(JsonNode node, String key, String where, String fallback) {
    JsonNode n = node.get(key);
    if (n == null || n.isNull()) {
      if (fallback == null) {
        throw error(where, "'" + key + "' is required");
      }
      return fallback;
    }
    if (!n.isTextual()) {
      throw error(where, "'" + key + "' must be a string, got " + n);
    }
    return n.textValue();
  }

  static String scalar(JsonNode n, String where, String what) {
    if (!n.isValueNode() || n.isNull()) {
      throw error(where, what + " must be a string or number, got " + n);
    }
    return n.asText();
  }

  static int positiveInt(JsonNode node, String key, String where, int fallback) {
    JsonNode n = node.get(key);
    if (n == null) {
      return fallback;
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.intValue() < 1) {
      throw error(where, key + " must be a positive integer, got " + n);
    }
    return n.intValue();
  }

  static long positiveLong(JsonNode node, String key, String where) {
    JsonNode n = node.get(key);
    if (!n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 1) {
      throw error(where, key + " must be a positive integer, got " + n);
    }
    return n.longValue();
  }

  static boolean flag(JsonNode node, String key, String where) {
    JsonNode n = node.get(key);
    if (n != null && !n.isBoolean()) {
      throw error(where, key + " must be true or false, got " + n);
    }
    return n != null && n.booleanValue();
  }

  static List<Double> numbers(JsonNode n, String where, String key) {
    if (!n.isArray()) {
      throw error(where, key + " must be a list of numbers, got " + n);
    }
    List<Double> out = new ArrayList<>();
    for (JsonNode v : n) {
      if (!v.isNumber() || !Double.isFinite(v.doubleValue())) {
        throw error(where, key + " must hold finite numbers, got " + n);
      }
      out.add(v.doubleValue());
    }
    return out;
  }

  static <E extends Enum<E>> E choice(Class<E> type, String value, String where, String key) {
    for (E e : type.getEnumConstants()) {
      if (lower(e).equals(value)) {
        return e;
      }
    }
    List<String> names = new ArrayList<>();
    for (E e : type.getEnumConstants()) {
      names.add(lower(e));
    }
    throw error(where, key + " must be one of " + String.join(", ", names) + ", got '" + value + "'");
  }

  static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }
}
