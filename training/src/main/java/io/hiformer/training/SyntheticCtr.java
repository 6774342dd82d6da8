package io.hiformer.training;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelConfig.Field;
import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.model.ModelConfig.Side;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small synthetic click data set with a planted heterogeneous interaction, for the quick start
 * and tests: the click logit is
 * {@code 2·affinity[user_segment][item_category]·hour_sign[ctx_hour] + 0.5·price_effect + noise},
 * so no single field predicts a click: the model must learn the user × item × context product.
 */
public final class SyntheticCtr {
  public static final int SEGMENTS = 6;
  public static final int CATEGORIES = 8;
  public static final int HOURS = 4;
  public static final int USERS = 200;

  private final float[][] affinity = new float[SEGMENTS][CATEGORIES];
  private final float[] hourSign = new float[HOURS];
  private final int[] userSegment = new int[USERS];

  public SyntheticCtr(long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    for (float[] row : affinity) {
      for (int j = 0; j < row.length; j++) {
        row[j] = (float) rnd.nextGaussian();
      }
    }
    for (int h = 0; h < HOURS; h++) {
      hourSign[h] = h % 2 == 0 ? 1f : -1f;
    }
    for (int u = 0; u < USERS; u++) {
      userSegment[u] = rnd.nextInt(SEGMENTS);
    }
  }

  /** A config that fits this data; id 0 of each vocabulary is reserved for "missing". */
  public static ModelConfig config() {
    return new ModelConfig("quickstart", 8, 2, 2, List.of("click"), 8, 8, 2, List.of(8), 1, true, List.of(
        new Field("user_id", FieldKind.CATEGORICAL, Side.USER, USERS + 1),
        new Field("user_segment", FieldKind.CATEGORICAL, Side.USER, SEGMENTS + 1),
        new Field("item_category", FieldKind.CATEGORICAL, Side.ITEM, CATEGORIES + 1),
        new Field("recent_categories", FieldKind.BAG, Side.USER, CATEGORIES + 1),
        new Field("ctx_hour", FieldKind.CATEGORICAL, Side.CONTEXT, HOURS + 1),
        new Field("item_price", FieldKind.DENSE, Side.ITEM, 0)));
  }

  /** Fills {@code batch} with {@code n} examples drawn with {@code rnd}. */
  public void sample(Batch batch, int n, SplittableRandom rnd) {
    batch.clear();
    for (int i = 0; i < n; i++) {
      int user = rnd.nextInt(USERS);
      int segment = userSegment[user];
      int category = rnd.nextInt(CATEGORIES);
      int hour = rnd.nextInt(HOURS);
      float price = (float) rnd.nextGaussian();
      int[] recent = new int[rnd.nextInt(3)];
      for (int k = 0; k < recent.length; k++) {
        recent[k] = 1 + rnd.nextInt(CATEGORIES);
      }
      double logit = 2 * affinity[segment][category] * hourSign[hour] - 0.5 * price + 0.3 * rnd.nextGaussian();
      float label = rnd.nextDouble() < 1 / (1 + Math.exp(-logit)) ? 1f : 0f;
      batch.add(new int[] {1 + user, 1 + segment, 1 + category, 1 + hour}, new int[][] {recent},
          new float[] {price}, new float[] {label}, null);
    }
  }

  /** The planted click probability's logit without noise, for checking what a model learned. */
  public double trueLogit(int segment, int category, int hour, float price) {
    return 2 * affinity[segment][category] * hourSign[hour] - 0.5 * price;
  }
}
