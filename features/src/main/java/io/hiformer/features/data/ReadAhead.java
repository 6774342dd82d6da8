package io.hiformer.features.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * An iterator over a file that reads one item ahead and closes the file when it is exhausted or
 * fails; {@link #close()} releases it early when a caller stops iterating before the end.
 */
abstract class ReadAhead<T> implements Iterator<T>, AutoCloseable {
  private T next;
  private boolean done;

  /** The next item, or null at the end of the input. */
  abstract T read() throws IOException;

  abstract void release() throws IOException;

  @Override
  public final boolean hasNext() {
    if (next == null && !done) {
      try {
        next = read();
      } catch (IOException e) {
        close();
        throw new UncheckedIOException(e.getMessage(), e);
      } catch (RuntimeException e) {
        close();
        throw e;
      }
      if (next == null) {
        close();
      }
    }
    return next != null;
  }

  @Override
  public final T next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    T item = next;
    next = null;
    return item;
  }

  @Override
  public final void close() {
    if (done) {
      return;
    }
    done = true;
    try {
      release();
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }
}
