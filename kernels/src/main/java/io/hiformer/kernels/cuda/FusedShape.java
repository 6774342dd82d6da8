package io.hiformer.kernels.cuda;

import java.util.Arrays;

/**
 * The shapes of a Hiformer forward pass (docs/model.md) as the fused CUDA kernel sees them; the model
 * module builds one from its config.
 *
 * @param tokenDim d
 * @param heads H
 * @param tasks T
 * @param rows R of each layer (L, or T for a pruned last layer)
 * @param rankK r_k
 * @param rankV r_v
 * @param ffnDim m·d
 * @param towerHidden the towers' hidden widths (each tower ends in one logit)
 * @param fieldSlots per embedded field in schema order: its index among the categorical fields,
 *     or {@code -1 - k} for the k-th bag field
 * @param vocab per embedded field: its table's rows
 * @param numCategorical categorical fields
 * @param numBag bag fields
 * @param numDense dense fields (D)
 * @param denseTokens dense tokens actually present (0 without dense fields)
 */
public record FusedShape(int tokenDim, int heads, int tasks, int[] rows, int rankK, int rankV, int ffnDim,
    int[] towerHidden, int[] fieldSlots, int[] vocab, int numCategorical, int numBag, int numDense,
    int denseTokens) {

  public FusedShape {
    rows = rows.clone();
    towerHidden = towerHidden.clone();
    fieldSlots = fieldSlots.clone();
    vocab = vocab.clone();
    if (fieldSlots.length != vocab.length) {
      throw new IllegalArgumentException("fieldSlots and vocab differ in length");
    }
  }

  /** L: tokens per example. */
  public int tokens() {
    return fieldSlots.length + denseTokens + tasks;
  }

  public int layers() {
    return rows.length;
  }

  public int headDim() {
    return tokenDim / heads;
  }

  @Override
  public int[] rows() {
    return rows.clone();
  }

  @Override
  public int[] towerHidden() {
    return towerHidden.clone();
  }

  @Override
  public int[] fieldSlots() {
    return fieldSlots.clone();
  }

  @Override
  public int[] vocab() {
    return vocab.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FusedShape s && tokenDim == s.tokenDim && heads == s.heads && tasks == s.tasks
        && Arrays.equals(rows, s.rows) && rankK == s.rankK && rankV == s.rankV && ffnDim == s.ffnDim
        && Arrays.equals(towerHidden, s.towerHidden) && Arrays.equals(fieldSlots, s.fieldSlots)
        && Arrays.equals(vocab, s.vocab) && numCategorical == s.numCategorical && numBag == s.numBag
        && numDense == s.numDense && denseTokens == s.denseTokens;
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(new int[] {tokenDim, heads, tasks, Arrays.hashCode(rows), rankK, rankV, ffnDim,
        Arrays.hashCode(towerHidden), Arrays.hashCode(fieldSlots), Arrays.hashCode(vocab), numCategorical, numBag,
        numDense, denseTokens});
  }

  @Override
  public String toString() {
    return "FusedShape[d=" + tokenDim + ", heads=" + heads + ", tasks=" + tasks + ", rows=" + Arrays.toString(rows)
        + ", rankK=" + rankK + ", rankV=" + rankV + ", ffn=" + ffnDim + ", towerHidden=" + Arrays.toString(towerHidden)
        + ", fields=" + fieldSlots.length + ", dense=" + numDense + "x" + denseTokens + "]";
  }
}
