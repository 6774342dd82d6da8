package io.hiformer.features.joiner;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.ExtensionRegistryLite;
import io.hiformer.proto.Outcome;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The outcomes of one request that wait for its rank-log entry, as one value of the joiner's
 * pending store: each outcome with the offset it was read at (for its dead-letter record).
 */
record Waiting(long offset, Outcome outcome) {

  static byte[] encode(List<Waiting> outcomes) {
    int size = 0;
    for (Waiting w : outcomes) {
      int n = w.outcome.getSerializedSize();
      size += CodedOutputStream.computeInt64SizeNoTag(w.offset) + CodedOutputStream.computeUInt32SizeNoTag(n) + n;
    }
    byte[] bytes = new byte[size];
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    try {
      for (Waiting w : outcomes) {
        out.writeInt64NoTag(w.offset);
        out.writeMessageNoTag(w.outcome);
      }
      out.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes;
  }

  static List<Waiting> decode(byte[] bytes) {
    List<Waiting> out = new ArrayList<>();
    if (bytes == null) {
      return out;
    }
    CodedInputStream in = CodedInputStream.newInstance(bytes);
    try {
      while (!in.isAtEnd()) {
        long offset = in.readInt64();
        out.add(new Waiting(offset, in.readMessage(Outcome.parser(), ExtensionRegistryLite.getEmptyRegistry())));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("a pending-outcomes value of the joiner's state does not parse", e);
    }
    return out;
  }
}
