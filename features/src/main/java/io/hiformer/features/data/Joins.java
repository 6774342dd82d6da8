package io.hiformer.features.data;

import io.hiformer.features.BadRowException;
import io.hiformer.features.BadRows;
import io.hiformer.features.FeatureSchema;
import io.hiformer.features.RawRecord;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The schema's side tables ({@code joins}), held in memory and joined onto records by key, e.g.
 * Frappe's {@code item_meta.csv} by {@code item}. A joined record reads a column from the record
 * itself when it has that column, else from the first side table that has it; a key that is
 * missing or not in a table leaves that table's columns absent, i.e. missing.
 */
public final class Joins {
  private final List<String> keys;
  private final List<Map<String, RawRecord>> tables;

  private Joins(List<String> keys, List<Map<String, RawRecord>> tables) {
    this.keys = keys;
    this.tables = tables;
  }

  /**
   * Reads every side table of {@code schema}, resolving file names against {@code dataDir}.
   * Fails on a bad row or a repeated key: a side table is small and must be right.
   */
  public static Joins load(FeatureSchema schema, Path dataDir) {
    List<String> keys = new ArrayList<>();
    List<Map<String, RawRecord>> tables = new ArrayList<>();
    for (FeatureSchema.Join join : schema.joins()) {
      Map<String, RawRecord> rows = new HashMap<>();
      for (RawRecord row : RecordFiles.open(dataDir.resolve(join.file()), schema, BadRows.none())) {
        String key = row.value(join.key());
        if (key == null) {
          throw new IllegalArgumentException(row.location() + ": side table has no key column '" + join.key() + "'");
        }
        RawRecord previous = rows.putIfAbsent(key, row);
        if (previous != null) {
          throw new BadRowException(row.location(),
              "key '" + key + "' appears again (first at " + previous.location() + ")");
        }
      }
      keys.add(join.key());
      tables.add(rows);
    }
    return new Joins(List.copyOf(keys), List.copyOf(tables));
  }

  /** {@code record} with the side tables' columns added. */
  public RawRecord join(RawRecord record) {
    if (tables.isEmpty()) {
      return record;
    }
    RawRecord[] sides = new RawRecord[tables.size()];
    for (int i = 0; i < sides.length; i++) {
      String key = record.value(keys.get(i));
      sides[i] = key == null ? null : tables.get(i).get(key);
    }
    return new Joined(record, sides);
  }

  /** Every record of {@code records} joined, lazily. */
  public Iterable<RawRecord> join(Iterable<? extends RawRecord> records) {
    return () -> new Iterator<>() {
      private final Iterator<? extends RawRecord> source = records.iterator();

      @Override
      public boolean hasNext() {
        return source.hasNext();
      }

      @Override
      public RawRecord next() {
        return join(source.next());
      }
    };
  }

  private record Joined(RawRecord base, RawRecord[] sides) implements RawRecord {
    @Override
    public String value(String column) {
      return owner(column).value(column);
    }

    @Override
    public List<String> bag(String column, String separator) {
      return owner(column).bag(column, separator);
    }

    /** The record itself if it has the column, else the first side row that does. */
    private RawRecord owner(String column) {
      if (base.value(column) != null) {
        return base;
      }
      for (RawRecord side : sides) {
        if (side != null && side.value(column) != null) {
          return side;
        }
      }
      return base;
    }

    @Override
    public String location() {
      return base.location();
    }
  }
}
