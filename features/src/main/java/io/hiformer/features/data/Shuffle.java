package io.hiformer.features.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * Shuffling with bounded memory: a window of {@code bufferSize} items. The window is filled
 * from the source; then each step emits a uniformly chosen item of the window and puts the next
 * source item in its place; at the end the rest of the window comes out in random order.
 *
 * <p>The output is a permutation of the input, and the same for the same seed and input order.
 * An item can come out at most {@code bufferSize - 1} places earlier than it went in (later
 * without bound), so a file sorted by time or label needs a buffer much larger than its runs, or
 * shuffled shards. Use a different seed per epoch (e.g. {@code seed + epoch}) for a different
 * order each time.
 */
public final class Shuffle {
  private Shuffle() {}

  public static <T> Iterable<T> window(Iterable<T> source, int bufferSize, long seed) {
    if (bufferSize < 1) {
      throw new IllegalArgumentException("shuffle buffer size must be positive, got " + bufferSize);
    }
    return () -> new Window<>(source.iterator(), bufferSize, seed);
  }

  private static final class Window<T> implements Iterator<T>, AutoCloseable {
    private final Iterator<T> source;
    private final Object[] buffer;
    private final SplittableRandom random;
    private int filled;

    Window(Iterator<T> source, int size, long seed) {
      this.source = source;
      this.buffer = new Object[size];
      this.random = new SplittableRandom(seed);
      while (filled < size && source.hasNext()) {
        buffer[filled++] = source.next();
      }
    }

    @Override
    public boolean hasNext() {
      return filled > 0;
    }

    @Override
    @SuppressWarnings("unchecked")
    public T next() {
      if (filled == 0) {
        throw new NoSuchElementException();
      }
      int pick = random.nextInt(filled);
      T out = (T) buffer[pick];
      if (source.hasNext()) {
        buffer[pick] = source.next();
      } else {
        // Draining: move the last live item into the hole and shrink the window.
        buffer[pick] = buffer[--filled];
        buffer[filled] = null;
      }
      return out;
    }

    @Override
    public void close() {
      if (source instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (RuntimeException e) {
          throw e;
        } catch (Exception e) {
          throw new IllegalStateException("closing the shuffled source failed", e);
        }
      }
    }
  }
}
