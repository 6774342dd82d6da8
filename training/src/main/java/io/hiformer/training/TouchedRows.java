package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.Parameters;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The embedding rows one batch uses, per table, each listed once: what the sparse parts of a
 * training step (gradient reduction, lazy Adam, clearing) iterate over. Reused across steps.
 */
final class TouchedRows {

  /** One table's touched rows. */
  public static final class Table {
    private final int[] seenAt;  // the collect() round that last listed the row
    private int[] rows = new int[64];
    private int count;

    Table(int vocab) {
      seenAt = new int[vocab];
    }

    void add(int row, int round) {
      if (seenAt[row] != round) {
        seenAt[row] = round;
        if (count == rows.length) {
          rows = java.util.Arrays.copyOf(rows, count * 2);
        }
        rows[count++] = row;
      }
    }

    public int count() {
      return count;
    }

    public int row(int k) {
      return rows[k];
    }
  }

  private final Map<String, Table> tables = new HashMap<>();
  private final String[] names;
  private final int[] slot;  // ModelConfig.embeddedSlots()
  private int round;

  public TouchedRows(ModelConfig config) {
    List<ModelConfig.Field> embedded = config.embeddedFields();
    names = new String[embedded.size()];
    slot = config.embeddedSlots();
    for (int e = 0; e < embedded.size(); e++) {
      ModelConfig.Field f = embedded.get(e);
      names[e] = Parameters.embeddingName(f.name());
      tables.put(names[e], new Table(f.vocab()));
    }
  }

  /** Lists the rows examples {@code [0, batch.size())} use. */
  public void collect(Batch batch) {
    round++;
    for (int e = 0; e < names.length; e++) {
      Table t = tables.get(names[e]);
      t.count = 0;
      for (int b = 0; b < batch.size(); b++) {
        if (slot[e] >= 0) {
          t.add(batch.categorical(b, slot[e]), round);
        } else {
          int k = -1 - slot[e];
          for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
            t.add(batch.bagId(p), round);
          }
        }
      }
    }
  }

  public Table table(String name) {
    return tables.get(name);
  }
  /**
   * Zeroes what a backward over the collected batch accumulated into {@code grads}: every dense
   * tensor, and of each table only the rows this batch touched (a step costs its batch, not the
   * vocabularies).
   */
  void zero(Parameters grads) {
    for (Parameters.Tensor t : grads.tensors()) {
      if (Parameters.isEmbedding(t.name())) {
        int d = t.shape()[1];
        Table rows = table(t.name());
        for (int k = 0; k < rows.count(); k++) {
          java.util.Arrays.fill(t.data(), rows.row(k) * d, (rows.row(k) + 1) * d, 0f);
        }
      } else {
        java.util.Arrays.fill(t.data(), 0f);
      }
    }
  }

}
