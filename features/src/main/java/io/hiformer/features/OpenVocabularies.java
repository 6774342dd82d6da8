package io.hiformer.features;

import io.hiformer.model.ModelConfig.FieldKind;
import io.hiformer.proto.TrainingExample;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The growing vocabularies of a model's open fields during training, one {@link OpenVocabulary}
 * each, on one example clock: {@link #observe} counts one example's raw values, {@link #drain}
 * says which embedding rows were admitted (to initialise) and expired since the last drain,
 * {@link #current} featurises with the vocabularies as they are now, and {@link #snapshot} is what
 * a model file records with a version. Fields that are not open are fixed.
 *
 * <p>A trainer's loop: for each example, {@code observe(raw)}; before each step, {@code drain()}
 * and initialise the admitted rows (weights, moving average, optimiser moments); featurise the
 * step's examples with {@code current()} (ids admitted so far in the step map to their rows). To
 * checkpoint, drain first, then store {@code snapshot().toJson()}; to resume, pass
 * {@code Transforms.fromJson} of it to {@link #of}. Not thread-safe.
 */
public final class OpenVocabularies {
  /** The raw columns a training example carries ({@link #rawValues}): the request's user and item ids. */
  public static final List<String> EXAMPLE_COLUMNS = List.of("user_id", "item_id");

  private final Transforms live;
  private final List<FieldTransform> open = new ArrayList<>();
  private final RawValues raw;
  private long clock;

  private OpenVocabularies(Transforms live) {
    this.live = live;
    this.raw = new RawValues(live.missingValues);
    for (FieldTransform f : live.fields) {
      if (f.open != null) {
        open.add(f);
        clock = Math.max(clock, f.open.clock());
      }
    }
  }

  /** Growth that starts from {@code base}'s vocabularies (copied: {@code base} does not change). */
  public static OpenVocabularies of(Transforms base) {
    return new OpenVocabularies(base.copy());
  }

  /** Whether any field is open; when none is, {@link #observe} only counts examples. */
  public boolean any() {
    return !open.isEmpty();
  }

  /** Examples observed: the clock that TTLs count in. */
  public long examples() {
    return clock;
  }

  /**
   * Observes one example: advances the clock by one (expiring ids unseen for their TTL), then
   * counts each open field's present values (a categorical value, or every item of a bag) and
   * admits those that reach {@code min_count} while a row is free. Missing values count nothing.
   */
  public void observe(RawRecord record) {
    clock++;
    for (FieldTransform f : open) {
      f.open.advance(clock);
    }
    for (FieldTransform f : open) {
      if (f.spec.kind() == FieldKind.CATEGORICAL) {
        String value = record.value(f.spec.column());
        if (!raw.isMissing(value)) {
          f.open.observe(value);
        }
      } else {
        for (String item : record.bag(f.spec.column(), f.spec.separator())) {
          if (!raw.isMissing(item)) {
            f.open.observe(item);
          }
        }
      }
    }
  }

  /** One field's rows admitted (to initialise before they train) and expired since the last drain. */
  public record Growth(String field, int[] admitted, int[] expired) {
    /** The embedding tensor the rows are in (docs/model.md, Parameters). */
    public String tensor() {
      return "emb." + field;
    }
  }

  /** The open fields' rows admitted and expired since the last call, in schema order. */
  public List<Growth> drain() {
    List<Growth> out = new ArrayList<>();
    for (FieldTransform f : open) {
      out.add(new Growth(f.spec.name(), f.open.drainAdmitted(), f.open.drainExpired()));
    }
    return out;
  }

  /** Each open field's counts: ids held, admitted, expired, refused at the maximum, candidates dropped. */
  public List<OpenVocabulary.Stats> stats() {
    return open.stream().map(f -> f.open.stats()).toList();
  }

  /**
   * The transforms with the vocabularies as they are now, changing as examples are observed: for
   * featurising during training only (a {@link Featurizer} made from it sees every admission).
   */
  public Transforms current() {
    return live;
  }

  /** An independent copy of {@link #current()}: what a model file stores with a version. */
  public Transforms snapshot() {
    return live.copy();
  }

  /**
   * The raw values a logged training example still carries, as a record of the columns
   * {@link #EXAMPLE_COLUMNS}: its other inputs were transformed by the serving version.
   */
  public static RawRecord rawValues(TrainingExample e) {
    return RawRecord.of(Map.of("user_id", e.getUserId(), "item_id", e.getItemId()));
  }

  /**
   * Refuses open fields whose raw values training examples do not carry (they read a column other
   * than {@link #EXAMPLE_COLUMNS}): they could not grow from the examples topic.
   */
  public static void requireExampleColumns(Transforms t) {
    for (FieldTransform f : t.fields) {
      if (f.open != null && !EXAMPLE_COLUMNS.contains(f.spec.column())) {
        throw new IllegalArgumentException("field '" + f.spec.name() + "' is open but reads column '"
            + f.spec.column() + "'; training examples carry the raw values of " + String.join(" and ",
            EXAMPLE_COLUMNS) + " only, so it cannot grow from the examples topic");
      }
    }
  }

  /**
   * Replaces the ids of the open fields in {@code categorical} and {@code bags} (the model's
   * categorical and bag fields in schema order, as served) with their rows in {@link #current()}
   * for {@code record}'s raw values; the other fields keep their ids.
   */
  public void remap(RawRecord record, int[] categorical, int[][] bags) {
    int c = 0;
    int b = 0;
    for (FieldTransform f : live.fields) {
      switch (f.spec.modelKind()) {
        case CATEGORICAL -> {
          if (f.open != null) {
            String value = record.value(f.spec.column());
            categorical[c] = raw.isMissing(value) ? 0 : f.id(value);
          }
          c++;
        }
        case BAG -> {
          if (f.open != null) {
            List<String> items = new ArrayList<>();
            for (String item : record.bag(f.spec.column(), f.spec.separator())) {
              if (!raw.isMissing(item)) {
                items.add(item);
              }
            }
            int[] ids = new int[items.size()];
            for (int k = 0; k < ids.length; k++) {
              ids[k] = f.id(items.get(k));
            }
            bags[b] = ids;
          }
          b++;
        }
        case DENSE -> { }
      }
    }
  }
}
