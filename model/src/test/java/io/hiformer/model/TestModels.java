package io.hiformer.model;

import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Random small configs, weights and batches for tests. */
final class TestModels {
  private TestModels() {}

  static ModelConfig randomConfig(SplittableRandom rnd, int layers, int heads, boolean prune,
      boolean withBags, boolean withDense) {
    int dh = 1 + rnd.nextInt(3);
    List<Field> fields = new ArrayList<>();
    int cats = 1 + rnd.nextInt(3);
    Side[] sides = Side.values();
    for (int i = 0; i < cats; i++) {
      fields.add(new Field("c" + i, FieldKind.CATEGORICAL, sides[i % 3], 2 + rnd.nextInt(6)));
      if (withBags && i == 0) {
        fields.add(new Field("bag" + i, FieldKind.BAG, Side.USER, 3 + rnd.nextInt(5)));
      }
    }
    if (withBags) {
      fields.add(new Field("bag_last", FieldKind.BAG, Side.ITEM, 4));
    }
    int dense = withDense ? 1 + rnd.nextInt(3) : 0;
    for (int i = 0; i < dense; i++) {
      fields.add(new Field("x" + i, FieldKind.DENSE, sides[(i + 1) % 3], 0));
    }
    List<String> tasks = rnd.nextBoolean() ? List.of("click") : List.of("click", "install", "share").subList(0, 2 + rnd.nextInt(2));
    List<Integer> tower = switch (rnd.nextInt(3)) {
      case 0 -> List.of();
      case 1 -> List.of(3);
      default -> List.of(5, 2);
    };
    return new ModelConfig("test", heads * dh, heads, layers, tasks, 1 + rnd.nextInt(4), 1 + rnd.nextInt(5),
        1 + rnd.nextInt(3), tower, withDense ? 1 + rnd.nextInt(2) : 0, prune, fields);
  }

  /** Random weights, larger than a fresh initialisation so that every path carries signal. */
  static Parameters randomParameters(ModelConfig c, SplittableRandom rnd) {
    Parameters p = Parameters.zeros(c);
    for (Parameters.Tensor t : p.tensors()) {
      float[] x = t.data();
      boolean gain = t.name().contains("ln") && t.name().endsWith(".weight");
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (rnd.nextGaussian() * 0.3 + (gain ? 1 : 0));
      }
    }
    return p;
  }

  /** A batch of random examples; bags get 0 to 3 ids, so some are empty. */
  static Batch randomBatch(ModelConfig c, int size, SplittableRandom rnd) {
    Batch b = new Batch(c, size);
    List<Field> cats = c.categoricalFields();
    List<Field> bags = c.bagFields();
    for (int i = 0; i < size; i++) {
      int[] ids = new int[cats.size()];
      for (int k = 0; k < ids.length; k++) {
        ids[k] = rnd.nextInt(cats.get(k).vocab());
      }
      int[][] bagIds = new int[bags.size()][];
      for (int k = 0; k < bagIds.length; k++) {
        bagIds[k] = new int[rnd.nextInt(4)];
        for (int p = 0; p < bagIds[k].length; p++) {
          bagIds[k][p] = rnd.nextInt(bags.get(k).vocab());
        }
      }
      float[] dense = new float[c.numDense()];
      for (int k = 0; k < dense.length; k++) {
        dense[k] = (float) rnd.nextGaussian();
      }
      float[] labels = new float[c.numTasks()];
      float[] mask = new float[c.numTasks()];
      for (int j = 0; j < labels.length; j++) {
        labels[j] = rnd.nextBoolean() ? 1f : 0f;
        mask[j] = rnd.nextInt(5) == 0 ? 0f : 1f;
      }
      b.add(ids, bagIds, dense, labels, mask);
    }
    return b;
  }
}
