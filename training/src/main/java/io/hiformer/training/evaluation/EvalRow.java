package io.hiformer.training.evaluation;

import io.hiformer.features.RawRecord;
import io.hiformer.proto.TrainingExample;
import java.util.Objects;

/**
 * One row to score with every version: a raw record, featurized by each version's own
 * transforms as the ranker does, or a logged {@link TrainingExample}, whose inputs are already
 * transformed (so every version must share the logging version's transforms).
 *
 * <p>{@link #record()} is what grouping and slicing read: the raw columns, or for a logged
 * example the columns {@code request_id}, {@code user_id}, {@code item_id}, {@code model_name},
 * {@code model_version}, {@code arm} and {@code position}.
 */
public record EvalRow(RawRecord record, TrainingExample logged) {

  public EvalRow {
    Objects.requireNonNull(record, "record");
  }

  public static EvalRow raw(RawRecord record) {
    return new EvalRow(record, null);
  }

  /** A logged example; {@code location} names it in errors (e.g. {@code file:#12}, {@code topic-3@1042}). */
  static EvalRow logged(TrainingExample example, String location) {
    return new EvalRow(new LoggedColumns(example, location), example);
  }

  private record LoggedColumns(TrainingExample e, String where) implements RawRecord {
    @Override
    public String value(String column) {
      return switch (column) {
        case "request_id" -> e.getRequestId();
        case "user_id" -> e.getUserId();
        case "item_id" -> e.getItemId();
        case "model_name" -> e.getModelName();
        case "model_version" -> Long.toString(e.getModelVersion());
        case "arm" -> e.getArm();
        case "position" -> Integer.toString(e.getPosition());
        default -> null;
      };
    }

    @Override
    public String location() {
      return where;
    }
  }
}
