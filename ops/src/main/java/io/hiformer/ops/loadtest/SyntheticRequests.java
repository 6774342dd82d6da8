package io.hiformer.ops.loadtest;

import io.hiformer.model.ModelConfig;
import io.hiformer.proto.Candidate;
import io.hiformer.proto.FeatureValue;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.StringList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Synthetic Rank requests from a seeded generator: a user id, the given context pairs, a value of
 * its kind for every other non-item field of the model, and {@code k} candidates with distinct
 * item ids (and a value for every item field). One per thread: not thread-safe.
 */
public final class SyntheticRequests {
  private final SplittableRandom random;
  private final List<ModelConfig.Field> fields;
  private final Map<String, String> context;
  private final int k;

  /** {@code fields}: the model's (empty for requests carrying only ids and {@code context}). */
  public SyntheticRequests(long seed, List<ModelConfig.Field> fields, Map<String, String> context, int k) {
    this.random = new SplittableRandom(seed);
    this.fields = fields;
    this.context = context;
    this.k = k;
  }

  /**
   * The {@code i}-th categorical value of field {@code field} as the generator writes it: {@code u<i>}
   * for {@code user_id}, {@code i<i>} for {@code item_id}, {@code v<i>} otherwise. {@code models
   * synthetic} fits its vocabularies on these, so generated requests hit known values.
   */
  public static String value(String field, int i) {
    return switch (field) {
      case "user_id" -> "u" + i;
      case "item_id" -> "i" + i;
      default -> "v" + i;
    };
  }

  /** {@code n} requests of {@code source} built now and handed out in turn. */
  static Supplier<RankRequest> cycle(SyntheticRequests source, int n) {
    RankRequest[] pool = new RankRequest[n];
    for (int i = 0; i < n; i++) {
      pool[i] = source.next();
    }
    return cycle(pool);
  }

  /** The elements of {@code pool} in turn, forever; not thread-safe. */
  static <T> Supplier<T> cycle(T[] pool) {
    int[] next = {0};
    return () -> {
      int i = next[0];
      next[0] = (i + 1) % pool.length;
      return pool[i];
    };
  }

  /** The next request. */
  public RankRequest next() {
    RankRequest.Builder b = RankRequest.newBuilder().setUserId(value("user_id", random.nextInt(10_000)));
    context.forEach((key, v) -> b.putContext(key, FeatureValue.newBuilder().setCategorical(v).build()));
    for (ModelConfig.Field f : fields) {
      if (f.side() != ModelConfig.Side.ITEM && !isId(f) && !context.containsKey(f.name())) {
        b.putContext(f.name(), value(f));
      }
    }
    Set<String> ids = new HashSet<>();
    while (ids.size() < k) {
      String id = value("item_id", random.nextInt(Math.max(1_000_000, 4 * k)));
      if (ids.add(id)) {
        Candidate.Builder c = Candidate.newBuilder().setItemId(id);
        for (ModelConfig.Field f : fields) {
          if (f.side() == ModelConfig.Side.ITEM && !isId(f)) {
            c.putFeatures(f.name(), value(f));
          }
        }
        b.addCandidates(c);
      }
    }
    return b.build();
  }

  private static boolean isId(ModelConfig.Field f) {
    return f.name().equals("user_id") || f.name().equals("item_id");
  }

  private FeatureValue value(ModelConfig.Field f) {
    return switch (f.kind()) {
      case CATEGORICAL -> FeatureValue.newBuilder().setCategorical(value(f.name(), random.nextInt(100))).build();
      case BAG -> FeatureValue.newBuilder().setBag(StringList.newBuilder().addValues(value(f.name(), random.nextInt(100)))
          .addValues(value(f.name(), random.nextInt(100))).addValues(value(f.name(), random.nextInt(100)))).build();
      case DENSE -> FeatureValue.newBuilder().setDense(random.nextGaussian()).build();
    };
  }
}
