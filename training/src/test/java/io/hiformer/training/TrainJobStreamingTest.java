package io.hiformer.training;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The training files' records are read one at a time, never a whole file ahead. */
class TrainJobStreamingTest {

  /** A "file" of {@code rows} items that counts how many were read. */
  private static Iterable<Integer> file(int first, int rows, AtomicInteger read) {
    return () -> new Iterator<>() {
      private int i;

      @Override
      public boolean hasNext() {
        return i < rows;
      }

      @Override
      public Integer next() {
        read.incrementAndGet();
        return first + i++;
      }
    };
  }

  @Test
  void theFirstRecordReadsOneRowNotTheWholeFile() {
    AtomicInteger read = new AtomicInteger();
    Iterator<Integer> it = TrainJob.concatenated(List.of(file(0, 100_000, read), file(100_000, 5, read))).iterator();
    assertThat(it.next()).isZero();
    // Stream.flatMap(...).iterator() read all 100,000 rows here: a 5 GB file's records in a 1 GB heap.
    assertThat(read.get()).isEqualTo(1);
  }

  @Test
  void everyRecordOfEveryFileInOrderAndEmptyFilesSkipped() {
    AtomicInteger read = new AtomicInteger();
    List<Integer> all = new ArrayList<>();
    TrainJob.concatenated(List.of(file(0, 0, read), file(0, 3, read), file(0, 0, read), file(10, 2, read)))
        .forEach(all::add);
    assertThat(all).containsExactly(0, 1, 2, 10, 11);
    assertThat(TrainJob.concatenated(List.<Iterable<Integer>>of()).iterator().hasNext()).isFalse();
  }
}
