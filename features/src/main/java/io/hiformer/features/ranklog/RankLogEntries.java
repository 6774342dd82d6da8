package io.hiformer.features.ranklog;

import io.hiformer.model.Batch;
import io.hiformer.model.ModelConfig;
import io.hiformer.proto.LoggedCandidate;
import io.hiformer.proto.ModelInputs;
import io.hiformer.proto.RankLogEntry;
import io.hiformer.proto.RankRequest;
import io.hiformer.proto.TaskScore;
import com.google.protobuf.CodedOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/** Building rank-log content from what the model scored. */
public final class RankLogEntries {
  private RankLogEntries() {}

  /** Who answered a call: the model version and the experiment arm, and when. */
  public record Served(String model, long version, String arm, ModelConfig config, long timeMs) {}

  /**
   * The rank-log entry of one answered call: every candidate of {@code request} in request order
   * with its row of {@code inputs}, its task probabilities ({@code probabilities[i * tasks + t]}),
   * score and {@code positions[i]}; the first {@code returned} positions were answered.
   */
  public static RankLogEntry entry(RankRequest request, String requestId, Served served, Batch inputs,
      float[] probabilities, float[] scores, int[] positions, int returned) {
    ModelConfig config = served.config();
    List<String> tasks = config.tasks();
    int categorical = config.categoricalFields().size();
    int bags = config.bagFields().size();
    int dense = config.numDense();
    RankLogEntry.Builder entry = head(request, requestId, served, returned);
    for (int i = 0; i < request.getCandidatesCount(); i++) {
      // Plain builders, not entry.addCandidatesBuilder(): nested builders track their parent and cost more.
      LoggedCandidate.Builder c = LoggedCandidate.newBuilder()
          .setItemId(request.getCandidates(i).getItemId())
          .setInputs(inputs(categorical, bags, dense, inputs, i))
          .setScore(scores[i])
          .setPosition(positions[i]);
      for (int t = 0; t < tasks.size(); t++) {
        c.addTaskScores(TaskScore.newBuilder().setTask(tasks.get(t)).setProbability(probabilities[i * tasks.size() + t]));
      }
      entry.addCandidates(c.build());
    }
    return entry.build();
  }

  /**
   * {@link #entry}'s entry already serialized, written straight from the arguments: the same
   * message once parsed (the candidates' bytes come after the other fields), with no object per
   * candidate; the one allocation that grows with the candidates is the returned array.
   */
  public static byte[] encode(RankRequest request, String requestId, Served served, Batch inputs,
      float[] probabilities, float[] scores, int[] positions, int returned) {
    ModelConfig config = served.config();
    List<String> tasks = config.tasks();
    int categorical = config.categoricalFields().size();
    int bags = config.bagFields().size();
    int dense = config.numDense();
    // Every field but the candidates, through the message: a few objects per call, none per candidate.
    byte[] head = head(request, requestId, served, returned).build().toByteArray();
    int n = request.getCandidatesCount();
    int size = head.length;
    // Each candidate's and its inputs' sizes, computed once: the lengths precede the bytes.
    int[] sizes = new int[2 * n];
    for (int i = 0; i < n; i++) {
      int in = inputsSize(categorical, bags, dense, inputs, i);
      int c = candidateSize(request.getCandidates(i).getItemId(), tasks, in, i, probabilities, scores[i], positions[i]);
      sizes[2 * i] = c;
      sizes[2 * i + 1] = in;
      size += CodedOutputStream.computeTagSize(CANDIDATES) + CodedOutputStream.computeUInt32SizeNoTag(c) + c;
    }
    byte[] out = new byte[size];
    System.arraycopy(head, 0, out, 0, head.length);
    CodedOutputStream w = CodedOutputStream.newInstance(out, head.length, size - head.length);
    try {
      for (int i = 0; i < n; i++) {
        String itemId = request.getCandidates(i).getItemId();
        w.writeTag(CANDIDATES, WIRE_LENGTH);
        w.writeUInt32NoTag(sizes[2 * i]);
        if (!itemId.isEmpty()) {
          w.writeString(1, itemId);
        }
        w.writeTag(2, WIRE_LENGTH); // inputs: always set, as entry() sets it
        w.writeUInt32NoTag(sizes[2 * i + 1]);
        writeInputs(w, categorical, bags, dense, inputs, i);
        for (int t = 0; t < tasks.size(); t++) {
          float p = probabilities[i * tasks.size() + t];
          w.writeTag(3, WIRE_LENGTH);
          w.writeUInt32NoTag(taskScoreSize(tasks.get(t), p));
          if (!tasks.get(t).isEmpty()) {
            w.writeString(1, tasks.get(t));
          }
          if (Float.floatToRawIntBits(p) != 0) {
            w.writeFloat(2, p);
          }
        }
        if (Float.floatToRawIntBits(scores[i]) != 0) {
          w.writeFloat(4, scores[i]);
        }
        if (positions[i] != 0) {
          w.writeUInt32(5, positions[i]);
        }
      }
      w.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new UncheckedIOException("rank log entry: sizes and bytes disagree", e);
    }
    return out;
  }

  private static final int CANDIDATES = RankLogEntry.CANDIDATES_FIELD_NUMBER;
  private static final int WIRE_LENGTH = 2; // WireFormat.WIRETYPE_LENGTH_DELIMITED

  // Sizes as protobuf writes proto3 fields: defaults (empty, 0) left out, packed repeated scalars.
  private static int candidateSize(String itemId, List<String> tasks, int in, int b, float[] probabilities, float score,
      int position) {
    int size = itemId.isEmpty() ? 0 : CodedOutputStream.computeStringSize(1, itemId);
    size += CodedOutputStream.computeTagSize(2) + CodedOutputStream.computeUInt32SizeNoTag(in) + in;
    for (int t = 0; t < tasks.size(); t++) {
      int ts = taskScoreSize(tasks.get(t), probabilities[b * tasks.size() + t]);
      size += CodedOutputStream.computeTagSize(3) + CodedOutputStream.computeUInt32SizeNoTag(ts) + ts;
    }
    size += Float.floatToRawIntBits(score) != 0 ? CodedOutputStream.computeFloatSize(4, score) : 0;
    return size + (position != 0 ? CodedOutputStream.computeUInt32Size(5, position) : 0);
  }

  private static int taskScoreSize(String task, float p) {
    return (task.isEmpty() ? 0 : CodedOutputStream.computeStringSize(1, task))
        + (Float.floatToRawIntBits(p) != 0 ? CodedOutputStream.computeFloatSize(2, p) : 0);
  }

  private static int packed(int payload) {
    return payload == 0 ? 0 : CodedOutputStream.computeTagSize(1) + CodedOutputStream.computeUInt32SizeNoTag(payload)
        + payload;
  }

  private static int categoricalPayload(int categorical, Batch batch, int b) {
    int size = 0;
    for (int c = 0; c < categorical; c++) {
      size += CodedOutputStream.computeInt64SizeNoTag(batch.categorical(b, c));
    }
    return size;
  }

  private static int bagIdsPayload(int bags, Batch batch, int b) {
    int size = 0;
    for (int k = 0; k < bags; k++) {
      for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
        size += CodedOutputStream.computeInt64SizeNoTag(batch.bagId(p));
      }
    }
    return size;
  }

  /** The bag offsets as {@link #inputs} logs them: 0, then each bag's end relative to the row's first id. */
  private static int bagOffsetsPayload(int bags, Batch batch, int b) {
    if (bags == 0) {
      return 0;
    }
    int size = CodedOutputStream.computeInt32SizeNoTag(0);
    int first = batch.bagStart(b, 0);
    for (int k = 0; k < bags; k++) {
      size += CodedOutputStream.computeInt32SizeNoTag(batch.bagEnd(b, k) - first);
    }
    return size;
  }

  private static int inputsSize(int categorical, int bags, int dense, Batch batch, int b) {
    return packed(categoricalPayload(categorical, batch, b)) + packed(bagIdsPayload(bags, batch, b))
        + packed(bagOffsetsPayload(bags, batch, b)) + packed(4 * dense);
  }

  private static void writeInputs(CodedOutputStream w, int categorical, int bags, int dense, Batch batch, int b)
      throws IOException {
    int payload = categoricalPayload(categorical, batch, b);
    if (payload > 0) {
      w.writeTag(1, WIRE_LENGTH);
      w.writeUInt32NoTag(payload);
      for (int c = 0; c < categorical; c++) {
        w.writeInt64NoTag(batch.categorical(b, c));
      }
    }
    payload = bagIdsPayload(bags, batch, b);
    if (payload > 0) {
      w.writeTag(2, WIRE_LENGTH);
      w.writeUInt32NoTag(payload);
      for (int k = 0; k < bags; k++) {
        for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
          w.writeInt64NoTag(batch.bagId(p));
        }
      }
    }
    payload = bagOffsetsPayload(bags, batch, b);
    if (payload > 0) {
      w.writeTag(3, WIRE_LENGTH);
      w.writeUInt32NoTag(payload);
      int first = batch.bagStart(b, 0);
      w.writeInt32NoTag(0);
      for (int k = 0; k < bags; k++) {
        w.writeInt32NoTag(batch.bagEnd(b, k) - first);
      }
    }
    if (dense > 0) {
      w.writeTag(4, WIRE_LENGTH);
      w.writeUInt32NoTag(4 * dense);
      for (int d = 0; d < dense; d++) {
        w.writeFloatNoTag(batch.dense(b, d));
      }
    }
  }

  /**
   * Row {@code b} of {@code batch} (built for {@code config}) as logged {@link ModelInputs}: the
   * exact ids and values the model saw, which {@code ExampleRows} turns back into the same row.
   */
  public static ModelInputs inputs(ModelConfig config, Batch batch, int b) {
    return inputs(config.categoricalFields().size(), config.bagFields().size(), config.numDense(), batch, b);
  }

  // The field counts come from the caller: ModelConfig computes its field lists on every call.
  private static ModelInputs inputs(int categorical, int bags, int dense, Batch batch, int b) {
    ModelInputs.Builder in = ModelInputs.newBuilder();
    for (int c = 0; c < categorical; c++) {
      in.addCategoricalIds(batch.categorical(b, c));
    }
    if (bags > 0) {
      in.addBagOffsets(0);
      for (int k = 0; k < bags; k++) {
        for (int p = batch.bagStart(b, k); p < batch.bagEnd(b, k); p++) {
          in.addBagIds(batch.bagId(p));
        }
        in.addBagOffsets(in.getBagIdsCount());
      }
    }
    for (int d = 0; d < dense; d++) {
      in.addDense(batch.dense(b, d));
    }
    return in.build();
  }

  /** Every field of a call's entry but its candidates: one place for both ways of writing it. */
  private static RankLogEntry.Builder head(RankRequest request, String requestId, Served served, int returned) {
    return RankLogEntry.newBuilder()
        .setRequestId(requestId)
        .setUserId(request.getUserId())
        .setUnitId(request.getUnitId().isEmpty() ? request.getUserId() : request.getUnitId())
        .putAllContext(request.getContextMap())
        .setReturnedCount(returned)
        .setModelName(served.model())
        .setModelVersion(served.version())
        .setArm(served.arm())
        .setServedTimeMs(served.timeMs());
  }
}
