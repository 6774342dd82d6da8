package io.hiformer.features;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Small builders shared by the feature tests. */
public final class Fixtures {
  private Fixtures() {}

  /** A model config with the transforms' fields and tasks and a tiny model around them. */
  public static ModelConfig config(Transforms t) {
    return new ModelConfig("test", 4, 2, 1, t.tasks(), 2, 2, 1, List.of(), 1, true, t.modelFields());
  }

  public static Batch batch(Transforms t, int capacity) {
    return new Batch(config(t), capacity);
  }

  /** A record of alternating column, value arguments; a null value leaves the column out. */
  public static RawRecord record(String... columnsAndValues) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < columnsAndValues.length; i += 2) {
      if (columnsAndValues[i + 1] != null) {
        m.put(columnsAndValues[i], columnsAndValues[i + 1]);
      }
    }
    return RawRecord.of(m);
  }

  /** Records with one column {@code column} holding each of {@code values}. */
  public static List<RawRecord> column(String column, String... values) {
    List<RawRecord> out = new ArrayList<>();
    for (String v : values) {
      out.add(record(column, v));
    }
    return out;
  }

  public static RawRecord located(String location, RawRecord record) {
    return new RawRecord() {
      @Override
      public String value(String column) {
        return record.value(column);
      }

      @Override
      public String location() {
        return location;
      }
    };
  }
}
