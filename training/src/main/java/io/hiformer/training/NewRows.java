package io.hiformer.training;

import io.hiformer.model.Parameters;

/**
 * How an embedding row that an open vocabulary admits (new or recycled) starts: as a copy of row 0
 * of its table, the embedding of the unknown id, which is what the id was scored with before it had
 * a row. Its scores do not jump when the version that knows it is swapped in; training moves it
 * from there. A recycled row keeps nothing of the expired id that held it.
 */
public final class NewRows {
  private NewRows() {}

  /** Sets {@code rows} of embedding table {@code tensor} to its row 0. */
  public static void initialise(Parameters params, String tensor, int[] rows) {
    Parameters.Tensor t = params.tensor(tensor);
    if (t.shape().length != 2 || !tensor.startsWith("emb.")) {
      throw new IllegalArgumentException("'" + tensor + "' is not an embedding table");
    }
    int d = t.shape()[1];
    float[] w = t.data();
    for (int row : rows) {
      if (row < 1 || row >= t.shape()[0]) {
        throw new IllegalArgumentException(tensor + " has no row " + row + " to initialise (rows 1.." + (t.shape()[0] - 1)
            + ")");
      }
      System.arraycopy(w, 0, w, row * d, d);
    }
  }
}
