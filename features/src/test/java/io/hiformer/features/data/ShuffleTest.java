package io.hiformer.features.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class ShuffleTest {
  static final List<Integer> INPUT = IntStream.range(0, 1000).boxed().toList();

  private static List<Integer> shuffled(List<Integer> input, int buffer, long seed) {
    List<Integer> out = new ArrayList<>();
    Shuffle.window(input, buffer, seed).forEach(out::add);
    return out;
  }

  @Test
  void isAPermutationForAnyBufferSize() {
    for (int buffer : new int[] {1, 2, 7, 999, 1000, 5000}) {
      assertThat(shuffled(INPUT, buffer, 42)).containsExactlyInAnyOrderElementsOf(INPUT);
    }
    assertThat(shuffled(List.of(), 8, 1)).isEmpty();
  }

  @Test
  void sameSeedSameOrderOtherSeedOtherOrder() {
    assertThat(shuffled(INPUT, 100, 7)).isEqualTo(shuffled(INPUT, 100, 7));
    assertThat(shuffled(INPUT, 100, 7)).isNotEqualTo(shuffled(INPUT, 100, 8));
    assertThat(shuffled(INPUT, 100, 7)).isNotEqualTo(INPUT);
    // Re-iterating the same iterable repeats the order.
    Iterable<Integer> once = Shuffle.window(INPUT, 100, 3);
    List<Integer> a = new ArrayList<>();
    List<Integer> b = new ArrayList<>();
    once.forEach(a::add);
    once.forEach(b::add);
    assertThat(a).isEqualTo(b);
  }

  @Test
  void bufferOfOneKeepsOrderAndItemsMoveAheadAtMostTheWindow() {
    assertThat(shuffled(INPUT, 1, 9)).isEqualTo(INPUT);
    List<Integer> out = shuffled(INPUT, 10, 9);
    for (int position = 0; position < out.size(); position++) {
      assertThat(out.get(position)).isLessThanOrEqualTo(position + 9);
    }
  }

  @Test
  void rejectsEmptyBuffer() {
    assertThatThrownBy(() -> Shuffle.window(INPUT, 0, 1)).hasMessageContaining("must be positive");
  }
}
