package io.hiformer.ops;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

/**
 * The demo's synthetic catalogue, population and contexts, with a planted truth for clicks.
 *
 * <p>Users have a segment (8), a country (5) and a bag of recently viewed categories; items have a
 * category (12) and a price; a request's context is the hour of day (0-23) and the device. The
 * true click logit of user u, item i in context c is
 *
 * <pre>
 *   -2.0 + pop[i]                                             item popularity
 *        + 1.8 · affinity[segment(u)][category(i)] · daypart(hour(c))   user x item x context
 *        + 0.7 · z(log price(i)) · (device(c) == mobile ? -1 : +1)      item x context
 *        + 0.4 · [category(i) in recent(u)]                              user x item
 * </pre>
 *
 * where {@code affinity} is standard normal per (segment, category) and {@code daypart} is +1 from
 * 06:00 to 17:59 and -1 otherwise: a segment that likes a category by day dislikes it at night. No
 * field alone predicts a click; the model sees the raw hour, not the daypart, and must learn the
 * three-way product. {@link #interactionRecovery} measures whether it did.
 *
 * <p>Later, {@link #launch} adds {@code launched} new items (ids after the first catalogue's) with
 * a planted quality of their own (popularity drawn twice as wide: learnable from the item id only,
 * which a model fitted before the launch maps to "unknown"), and shifts a preference: from then on
 * the affinity of the first half of the segments is reversed.
 */
final class DemoWorld {
  static final int SEGMENTS = 8;
  static final int CATEGORIES = 12;
  static final String[] COUNTRIES = {"us", "de", "br", "in", "jp"};
  static final String[] DEVICES = {"mobile", "desktop"};

  private final int users;
  private final int items;
  private final int launched;
  private volatile boolean afterLaunch;
  private final double[][] affinity = new double[SEGMENTS][CATEGORIES];
  private final int[] segment;
  private final int[] country;
  private final int[][] recent;
  private final int[] category;
  private final double[] price;
  private final double[] popularity;
  private final double logPriceMean;
  private final double logPriceStd;

  DemoWorld(long seed, int users, int items) {
    this(seed, users, items, 0);
  }

  DemoWorld(long seed, int users, int items, int launched) {
    this.users = users;
    this.items = items;
    this.launched = launched;
    SplittableRandom rnd = new SplittableRandom(seed);
    for (double[] row : affinity) {
      for (int c = 0; c < CATEGORIES; c++) {
        row[c] = rnd.nextGaussian();
      }
    }
    segment = new int[users];
    country = new int[users];
    recent = new int[users][];
    for (int u = 0; u < users; u++) {
      segment[u] = rnd.nextInt(SEGMENTS);
      country[u] = rnd.nextInt(COUNTRIES.length);
      recent[u] = new int[1 + rnd.nextInt(3)];
      for (int k = 0; k < recent[u].length; k++) {
        recent[u][k] = rnd.nextInt(CATEGORIES);
      }
    }
    category = new int[items + launched];
    price = new double[items + launched];
    popularity = new double[items + launched];
    double sum = 0;
    double sumSq = 0;
    for (int i = 0; i < items + launched; i++) {
      category[i] = rnd.nextInt(CATEGORIES);
      price[i] = Math.round(Math.exp(2.5 + 1.2 * rnd.nextGaussian()) * 100) / 100.0;
      popularity[i] = (i < items ? 0.5 : 1.0) * rnd.nextGaussian();
      if (i >= items) {
        continue; // the price scale is the first catalogue's
      }
      double lp = Math.log(price[i]);
      sum += lp;
      sumSq += lp * lp;
    }
    logPriceMean = sum / items;
    logPriceStd = Math.sqrt(Math.max(sumSq / items - logPriceMean * logPriceMean, 1e-12));
  }

  /** The feature schema the demo's models use. */
  static String schemaYaml() {
    return schemaYaml(0);
  }

  /**
   * The schema, with {@code item_id} open (growing from the examples, at most {@code maxItems}
   * ids) when {@code maxItems > 0}.
   */
  static String schemaYaml(int maxItems) {
    String itemId = maxItems > 0
        ? "{name: item_id, kind: categorical, side: item, open: true, min_count: 2, max_vocabulary: " + maxItems + "}"
        : "{name: item_id, kind: categorical, side: item}";
    return """
        tasks:
          - {name: click}
        fields:
          - {name: user_id, kind: categorical, side: user}
          - {name: user_segment, kind: categorical, side: user}
          - {name: country, kind: categorical, side: user}
          - {name: recent_categories, kind: bag, side: user}
          - %s
          - {name: item_category, kind: categorical, side: item}
          - {name: item_price, kind: dense, side: item, log1p: true, standardize: true}
          - {name: hour, kind: categorical, side: context}
          - {name: device, kind: categorical, side: context}
        """.formatted(itemId);
  }

  int users() {
    return users;
  }

  /** Items of the first catalogue: {@code i0} to {@code i<items-1>}. */
  int items() {
    return items;
  }

  /** Items launched by {@link #launch}: the ones after {@link #items()}. */
  int launched() {
    return launched;
  }

  /** Items on offer now: the first catalogue, and after {@link #launch} the launched ones too. */
  int catalogue() {
    return afterLaunch ? items + launched : items;
  }

  /** Launches the new items and shifts the preference (see the class comment). */
  void launch() {
    afterLaunch = true;
  }

  /** A candidate item: after the launch, a launched one with probability 0.3. */
  int candidate(SplittableRandom rnd) {
    return afterLaunch && launched > 0 && rnd.nextDouble() < 0.3 ? items + rnd.nextInt(launched)
        : rnd.nextInt(items);
  }

  static String userId(int u) {
    return "u" + u;
  }

  static String itemId(int i) {
    return "i" + i;
  }

  /** The user's stored features (as published on {@code features.user}). */
  Map<String, String> userFeatures(int u) {
    StringBuilder bag = new StringBuilder();
    for (int c : recent[u]) {
      bag.append(bag.isEmpty() ? "" : "|").append("c").append(c);
    }
    return Map.of("user_segment", "s" + segment[u], "country", COUNTRIES[country[u]],
        "recent_categories", bag.toString());
  }

  /** The item's stored features (as published on {@code features.item}). */
  Map<String, String> itemFeatures(int i) {
    return Map.of("item_category", "c" + category[i], "item_price", Double.toString(price[i]));
  }

  /** A request context: hour of day and device. */
  static Map<String, String> context(SplittableRandom rnd) {
    return Map.of("hour", Integer.toString(rnd.nextInt(24)), "device", DEVICES[rnd.nextInt(DEVICES.length)]);
  }

  /** One full raw row (ids, user and item features, context), without a label. */
  Map<String, String> row(int u, int i, Map<String, String> context) {
    Map<String, String> row = new LinkedHashMap<>();
    row.put("user_id", userId(u));
    row.putAll(userFeatures(u));
    row.put("item_id", itemId(i));
    row.putAll(itemFeatures(i));
    row.putAll(context);
    return row;
  }

  /** The planted true click logit. */
  double clickLogit(int u, int i, Map<String, String> context) {
    int hour = Integer.parseInt(context.get("hour"));
    double daypart = hour >= 6 && hour < 18 ? 1 : -1;
    double z = (Math.log(price[i]) - logPriceMean) / logPriceStd;
    double device = "mobile".equals(context.get("device")) ? -1 : 1;
    boolean seen = false;
    for (int c : recent[u]) {
      seen |= c == category[i];
    }
    double shift = afterLaunch && segment[u] < SEGMENTS / 2 ? -1 : 1;
    return -2.0 + popularity[i] + 1.8 * shift * affinity[segment[u]][category[i]] * daypart + 0.7 * z * device
        + (seen ? 0.4 : 0);
  }

  /** Draws a click from the truth. */
  boolean click(int u, int i, Map<String, String> context, SplittableRandom rnd) {
    return rnd.nextDouble() < 1 / (1 + Math.exp(-clickLogit(u, i, context)));
  }

  /**
   * How much of the planted user x item x context interaction a scorer recovered: for every
   * (segment, category) cell with |affinity| > 0.5, the scorer's mean logit by day minus its mean
   * logit by night (same users, items and devices) must have the sign of the affinity. Returns the
   * fraction of cells with the right sign: 1.0 for the truth, about 0.5 for a scorer that ignores
   * the interaction.
   */
  double interactionRecovery(ToDoubleFunction<Map<String, String>> logit, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int cells = 0;
    int right = 0;
    for (int s = 0; s < SEGMENTS; s++) {
      for (int c = 0; c < CATEGORIES; c++) {
        if (Math.abs(affinity[s][c]) <= 0.5) {
          continue;
        }
        double contrast = 0;
        int samples = 0;
        for (int n = 0; n < 400 && samples < 24; n++) {
          int u = rnd.nextInt(users);
          int i = rnd.nextInt(items);
          if (segment[u] != s || category[i] != c) {
            continue;
          }
          String device = DEVICES[rnd.nextInt(DEVICES.length)];
          contrast += logit.applyAsDouble(row(u, i, Map.of("hour", Integer.toString(6 + rnd.nextInt(12)), "device", device)))
              - logit.applyAsDouble(row(u, i, Map.of("hour", Integer.toString((18 + rnd.nextInt(12)) % 24), "device", device)));
          samples++;
        }
        if (samples == 0) {
          continue;
        }
        cells++;
        if (Math.signum(contrast) == Math.signum(affinity[s][c])) {
          right++;
        }
      }
    }
    return cells == 0 ? 0 : (double) right / cells;
  }

  /** Inverse of {@link #row}: the user index of a row. */
  static int userIndex(Map<String, String> row) {
    return Integer.parseInt(row.get("user_id").substring(1));
  }

  static int itemIndex(Map<String, String> row) {
    return Integer.parseInt(row.get("item_id").substring(1));
  }
}
