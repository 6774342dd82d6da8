package io.hiformer.training.evaluation;

/**
 * The sums behind every metric of one (slice value, version, task): exact ones for the point
 * estimates and one set per bootstrap replicate. Filled a group at a time; mergeable, so each
 * worker keeps its own and they are added up at the end.
 *
 * <p>Memory is fixed by the settings, not the data: the {@link ScoreTable} up to its limit, and
 * {@code B * (2 * aucBins * 4 + 2 * calibrationBins * 8 + (9 + #ndcg) * 8)} bytes for the
 * replicates, about 1.1 MB at the defaults (B 500, 256 AUC bins, 10 calibration bins, one NDCG).
 */
final class Accumulator {
  /** Replicate AUCs use score bins of 1/8 logit on [-16, 16]; the point AUC is exact. */
  static final double LOGIT_RANGE = 16;

  /** What every accumulator of one evaluation shares: replicates, bins and NDCG cut-offs. */
  record Layout(int replicates, int calibrationBins, int aucBins, int[] ndcgAt, int histogramBins) {
    static Layout of(int replicates, int calibrationBins, int[] ndcgAt) {
      return new Layout(replicates, calibrationBins, 256, ndcgAt.clone(), 40);
    }

    int aucBin(float logit) {
      int bin = (int) Math.floor((logit + LOGIT_RANGE) * aucBins / (2 * LOGIT_RANGE));
      return Math.max(0, Math.min(aucBins - 1, bin));
    }

    int calibrationBin(double p) {
      return Math.min(calibrationBins - 1, (int) (p * calibrationBins));
    }

    int histogramBin(double p) {
      return Math.min(histogramBins - 1, (int) (p * histogramBins));
    }
  }

  private final Layout layout;
  // point estimates
  final ScoreTable scores;
  long rows;
  long positives;
  long groups;
  double logloss;
  double sumP;
  double sumY;
  final long[] calibrationCount;
  final double[] calibrationP;
  final double[] calibrationY;
  final long[] histogramPos;
  final long[] histogramNeg;
  double gaucNum;
  double gaucDen;
  long gaucGroups;
  final double[] ndcgSum;
  long ndcgGroups;
  double rrSum;
  long rrGroups;
  // replicates, index b (and bin-major within b)
  final double[] rRows;
  final double[] rLogloss;
  final double[] rP;
  final double[] rY;
  final double[] rCalibration;
  final int[] rAuc;
  final double[] rGaucNum;
  final double[] rGaucDen;
  final double[] rNdcg;
  final double[] rNdcgW;
  final double[] rRr;
  final double[] rRrW;

  /** {@code scoreTableLimit}: distinct scores the exact AUC keeps (see {@link ScoreTable}). */
  Accumulator(Layout layout, int scoreTableLimit) {
    this.layout = layout;
    int b = layout.replicates();
    int k = layout.ndcgAt().length;
    scores = new ScoreTable(scoreTableLimit);
    calibrationCount = new long[layout.calibrationBins()];
    calibrationP = new double[layout.calibrationBins()];
    calibrationY = new double[layout.calibrationBins()];
    histogramPos = new long[layout.histogramBins()];
    histogramNeg = new long[layout.histogramBins()];
    ndcgSum = new double[k];
    rRows = new double[b];
    rLogloss = new double[b];
    rP = new double[b];
    rY = new double[b];
    rCalibration = new double[b * layout.calibrationBins() * 2];
    rAuc = new int[b * layout.aucBins() * 2];
    rGaucNum = new double[b];
    rGaucDen = new double[b];
    rNdcg = new double[b * k];
    rNdcgW = new double[b];
    rRr = new double[b];
    rRrW = new double[b];
  }

  /** Per-thread buffers for {@link #addGroup}. */
  static final class GroupBuffers {
    final Ranking ranking = new Ranking();
    final double[] calP;
    final double[] calY;
    final boolean[] calTouched;
    final int[] calList;
    final int[] aucPos;
    final int[] aucNeg;
    final int[] aucList;
    final double[] ndcg;

    GroupBuffers(Layout layout) {
      calP = new double[layout.calibrationBins()];
      calY = new double[layout.calibrationBins()];
      calTouched = new boolean[layout.calibrationBins()];
      calList = new int[layout.calibrationBins()];
      aucPos = new int[layout.aucBins()];
      aucNeg = new int[layout.aucBins()];
      aucList = new int[layout.aucBins()];
      ndcg = new double[layout.ndcgAt().length];
    }
  }

  /**
   * Adds one group's {@code n} labelled rows (logits {@code z}, labels {@code y}) with its
   * replicate weights: {@code weight[j]} for replicate {@code replicate[j]}, the {@code nonzero}
   * replicates that drew it at least once.
   */
  void addGroup(float[] z, float[] y, int n, int[] replicate, int[] weight, int nonzero, GroupBuffers s) {
    if (n == 0) {
      return;
    }
    int calTouched = 0;
    int aucTouched = 0;
    double groupLoss = 0;
    double groupP = 0;
    double groupY = 0;
    long groupPositives = 0;
    for (int i = 0; i < n; i++) {
      double logit = z[i];
      double label = y[i];
      boolean positive = y[i] > 0.5f;
      double p = 1 / (1 + Math.exp(-logit));
      double loss = Math.max(logit, 0) - logit * label + Math.log1p(Math.exp(-Math.abs(logit)));
      scores.add(z[i], positive);
      groupLoss += loss;
      groupP += p;
      groupY += label;
      int c = layout.calibrationBin(p);
      calibrationCount[c]++;
      calibrationP[c] += p;
      calibrationY[c] += label;
      if (!s.calTouched[c]) {
        s.calTouched[c] = true;
        s.calList[calTouched++] = c;
      }
      s.calP[c] += p;
      s.calY[c] += label;
      int h = layout.histogramBin(p);
      if (positive) {
        histogramPos[h]++;
        groupPositives++;
      } else {
        histogramNeg[h]++;
      }
      int a = layout.aucBin(z[i]);
      if (s.aucPos[a] == 0 && s.aucNeg[a] == 0) {
        s.aucList[aucTouched++] = a;
      }
      if (positive) {
        s.aucPos[a]++;
      } else {
        s.aucNeg[a]++;
      }
    }
    rows += n;
    positives += groupPositives;
    groups++;
    logloss += groupLoss;
    sumP += groupP;
    sumY += groupY;

    Ranking ranking = s.ranking;
    ranking.set(z, y, n);
    double gauc = ranking.auc();
    if (!Double.isNaN(gauc)) {
      gaucNum += n * gauc;
      gaucDen += n;
      gaucGroups++;
    }
    int[] ks = layout.ndcgAt();
    for (int k = 0; k < ks.length; k++) {
      s.ndcg[k] = ranking.ndcg(ks[k]);
    }
    // NDCG is defined (at every k alike) when some label is above 0.
    boolean hasNdcg = ks.length > 0 && !Double.isNaN(s.ndcg[0]);
    if (hasNdcg) {
      for (int k = 0; k < ks.length; k++) {
        ndcgSum[k] += s.ndcg[k];
      }
      ndcgGroups++;
    }
    double rr = ranking.reciprocalRank();
    if (!Double.isNaN(rr)) {
      rrSum += rr;
      rrGroups++;
    }

    int calBins = layout.calibrationBins();
    int aucBins = layout.aucBins();
    for (int j = 0; j < nonzero; j++) {
      int b = replicate[j];
      int w = weight[j];
      rRows[b] += (double) w * n;
      rLogloss[b] += w * groupLoss;
      rP[b] += w * groupP;
      rY[b] += w * groupY;
      for (int t = 0; t < calTouched; t++) {
        int c = s.calList[t];
        int at = (b * calBins + c) * 2;
        rCalibration[at] += w * s.calP[c];
        rCalibration[at + 1] += w * s.calY[c];
      }
      for (int t = 0; t < aucTouched; t++) {
        int a = s.aucList[t];
        int at = (b * aucBins + a) * 2;
        rAuc[at] += w * s.aucPos[a];
        rAuc[at + 1] += w * s.aucNeg[a];
      }
      if (!Double.isNaN(gauc)) {
        rGaucNum[b] += w * n * gauc;
        rGaucDen[b] += (double) w * n;
      }
      if (hasNdcg) {
        for (int k = 0; k < ks.length; k++) {
          rNdcg[b * ks.length + k] += w * s.ndcg[k];
        }
        rNdcgW[b] += w;
      }
      if (!Double.isNaN(rr)) {
        rRr[b] += w * rr;
        rRrW[b] += w;
      }
    }
    for (int t = 0; t < calTouched; t++) {
      int c = s.calList[t];
      s.calTouched[c] = false;
      s.calP[c] = 0;
      s.calY[c] = 0;
    }
    for (int t = 0; t < aucTouched; t++) {
      int a = s.aucList[t];
      s.aucPos[a] = 0;
      s.aucNeg[a] = 0;
    }
  }

  void merge(Accumulator o) {
    scores.merge(o.scores);
    rows += o.rows;
    positives += o.positives;
    groups += o.groups;
    logloss += o.logloss;
    sumP += o.sumP;
    sumY += o.sumY;
    add(calibrationCount, o.calibrationCount);
    add(calibrationP, o.calibrationP);
    add(calibrationY, o.calibrationY);
    add(histogramPos, o.histogramPos);
    add(histogramNeg, o.histogramNeg);
    gaucNum += o.gaucNum;
    gaucDen += o.gaucDen;
    gaucGroups += o.gaucGroups;
    add(ndcgSum, o.ndcgSum);
    ndcgGroups += o.ndcgGroups;
    rrSum += o.rrSum;
    rrGroups += o.rrGroups;
    add(rRows, o.rRows);
    add(rLogloss, o.rLogloss);
    add(rP, o.rP);
    add(rY, o.rY);
    add(rCalibration, o.rCalibration);
    for (int i = 0; i < rAuc.length; i++) {
      rAuc[i] += o.rAuc[i];
    }
    add(rGaucNum, o.rGaucNum);
    add(rGaucDen, o.rGaucDen);
    add(rNdcg, o.rNdcg);
    add(rNdcgW, o.rNdcgW);
    add(rRr, o.rRr);
    add(rRrW, o.rRrW);
  }

  private static void add(double[] a, double[] b) {
    for (int i = 0; i < a.length; i++) {
      a[i] += b[i];
    }
  }

  private static void add(long[] a, long[] b) {
    for (int i = 0; i < a.length; i++) {
      a[i] += b[i];
    }
  }

  /** The point estimates, in {@link MetricSet} order. */
  double[] point() {
    int k = layout.ndcgAt().length;
    double[] m = new double[MetricSet.FIXED + k + 1];
    m[MetricSet.AUC] = scores.sorted().auc();
    m[MetricSet.LOGLOSS] = logloss / rows;
    m[MetricSet.ECE] = ece(calibrationP, calibrationY) / rows;
    m[MetricSet.RATIO] = sumP / sumY;
    m[MetricSet.GAUC] = gaucNum / gaucDen;
    for (int i = 0; i < k; i++) {
      m[MetricSet.FIXED + i] = ndcgSum[i] / ndcgGroups;
    }
    m[MetricSet.FIXED + k] = rrSum / rrGroups;
    return m;
  }

  /** Replicate values {@code [metric][b]}, in {@link MetricSet} order; NaN where undefined. */
  double[][] replicates() {
    int bCount = layout.replicates();
    int k = layout.ndcgAt().length;
    int aucBins = layout.aucBins();
    double[][] m = new double[MetricSet.FIXED + k + 1][bCount];
    long[] pos = new long[aucBins];
    long[] neg = new long[aucBins];
    for (int b = 0; b < bCount; b++) {
      for (int a = 0; a < aucBins; a++) {
        pos[a] = rAuc[(b * aucBins + a) * 2];
        neg[a] = rAuc[(b * aucBins + a) * 2 + 1];
      }
      m[MetricSet.AUC][b] = ScoreTable.auc(pos, neg, aucBins);
      m[MetricSet.LOGLOSS][b] = rLogloss[b] / rRows[b];
      int bins = layout.calibrationBins();
      double gap = 0;
      for (int c = 0; c < bins; c++) {
        gap += Math.abs(rCalibration[(b * bins + c) * 2] - rCalibration[(b * bins + c) * 2 + 1]);
      }
      m[MetricSet.ECE][b] = gap / rRows[b];
      m[MetricSet.RATIO][b] = rP[b] / rY[b];
      m[MetricSet.GAUC][b] = rGaucNum[b] / rGaucDen[b];
      for (int i = 0; i < k; i++) {
        m[MetricSet.FIXED + i][b] = rNdcg[b * k + i] / rNdcgW[b];
      }
      m[MetricSet.FIXED + k][b] = rRr[b] / rRrW[b];
    }
    return m;
  }

  /**
   * Expected calibration error times the row count: over probability bins, the sum of
   * |sum of predictions - sum of labels|. Divided by the rows, it is the row-weighted mean of
   * |mean prediction - mean label| per bin.
   */
  private static double ece(double[] p, double[] y) {
    double gap = 0;
    for (int c = 0; c < p.length; c++) {
      gap += Math.abs(p[c] - y[c]);
    }
    return gap;
  }
}
