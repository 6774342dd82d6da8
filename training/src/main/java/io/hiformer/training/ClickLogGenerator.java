package io.hiformer.training;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import java.util.zip.GZIPOutputStream;

/**
 * Click logs of any size with planted interactions at realistic cardinality, for benchmarks and
 * tests of training at scale.
 *
 * <p>Row {@code i} depends only on the seed and {@code i}, and a user's or item's attributes only
 * on the seed and its id, so files can be written in parallel, in any split, and a held-out file
 * drawn from other row indices sees the same users and items. No per-entity table is kept: the
 * generator's memory does not grow with {@code users} or {@code items}.
 *
 * <p>The click logit ({@link #trueLogit}) is
 * <pre>
 *   -2.2 + quality[item] + bias[user]
 *        + 1.2 * affinity[segment(user)][category(item)] * (+1 from 08:00 to 19:59, else -1)
 *          (affinity: a random matrix of rank 2)
 *        + 0.8 * [category(item) in recent_categories(user)]
 *        - 0.5 * [device = mobile] * (ln(price) - 3)
 * </pre>
 * so the strongest effect is a user x item x context product that no single field predicts.
 * Users and items are drawn with a power law (low ids are popular): many ids are seen once.
 */
public final class ClickLogGenerator {
  public static final int SEGMENTS = 16;
  public static final int CATEGORIES = 64;
  public static final int COUNTRIES = 40;
  public static final int TAGS = 500;
  static final String[] DEVICES = {"mobile", "desktop", "tablet"};

  /**
   * The CSV header. {@link #schemaYaml()} reads the columns up to {@code ctx_device}; the rest are
   * what a real click log carries beside the features (request and session ids, the event's time,
   * the client), which the pipeline must read past: they make a row about 270 bytes, as in the wild.
   */
  public static final String HEADER = "clicked,user_id,user_segment,user_country,user_age,recent_categories,"
      + "item_id,item_category,item_tags,item_price,ctx_hour,ctx_device,"
      + "request_id,event_time,session_id,app_version,user_agent";

  /** Clients by device; quoted in the CSV, as their commas require. */
  private static final String[][] USER_AGENTS = {
      {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
          "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36"},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
          "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"},
      {"Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
          "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Safari/537.36"}};
  private static final String HEX = "0123456789abcdef";

  private final long seed;
  private final long users;
  private final long items;
  private final float[][] affinity = new float[SEGMENTS][CATEGORIES];

  public ClickLogGenerator(long seed, long users, long items) {
    if (users < 1 || items < 1) {
      throw new IllegalArgumentException("users and items must be at least 1, got " + users + " and " + items);
    }
    this.seed = seed;
    this.users = users;
    this.items = items;
    // Rank 2, as tastes are in practice: a model with small embeddings can learn it.
    SplittableRandom rnd = new SplittableRandom(mix(seed, 0x5eed));
    double[][] a = new double[2][SEGMENTS];
    double[][] b = new double[2][CATEGORIES];
    for (int r = 0; r < 2; r++) {
      for (int i = 0; i < SEGMENTS; i++) {
        a[r][i] = rnd.nextGaussian();
      }
      for (int j = 0; j < CATEGORIES; j++) {
        b[r][j] = rnd.nextGaussian();
      }
    }
    for (int i = 0; i < SEGMENTS; i++) {
      for (int j = 0; j < CATEGORIES; j++) {
        affinity[i][j] = (float) ((a[0][i] * b[0][j] + a[1][i] * b[1][j]) / Math.sqrt(2));
      }
    }
  }

  /** The feature schema (YAML, the {@code features} module's format) that reads these files. */
  public static String schemaYaml() {
    return """
        # Written by `hiformer data synthetic`: the schema of its click logs.
        tasks:
          - {name: click, column: clicked}
        fields:
          - {name: user_id, kind: categorical, side: user, min_count: 2, max_vocabulary: 500000}
          - {name: user_segment, kind: categorical, side: user}
          - {name: user_country, kind: categorical, side: user}
          - {name: user_age, kind: dense, side: user, standardize: true}
          - {name: recent_categories, kind: bag, side: user}
          - {name: item_id, kind: categorical, side: item, min_count: 2, max_vocabulary: 500000}
          - {name: item_category, kind: categorical, side: item}
          - {name: item_tags, kind: bag, side: item}
          - {name: item_price, kind: dense, side: item, log1p: true, standardize: true}
          - {name: ctx_hour, kind: categorical, side: context}
          - {name: ctx_device, kind: categorical, side: context}
        """;
  }

  /** One row's values; reused by {@link #row} so that writing allocates only the text. */
  static final class Row {
    long user;
    double userBias;
    int segment;
    int country;
    double age; // NaN: missing
    final int[] recent = new int[5];
    int recentCount;
    long item;
    double itemQuality;
    int category;
    final int[] tags = new int[4];
    int tagCount;
    double price;
    int hour;
    int device;
    double logit;
    boolean clicked;
    long requestHigh;
    long requestLow;
    long session;
    int day;
    int millisOfHour;
    int appMinor;
    int agent;
  }

  /** Fills {@code row} with row {@code index}. */
  void row(long index, Row row) {
    SplittableRandom rnd = new SplittableRandom(mix(seed, index));
    row.user = powerLaw(rnd.nextDouble(), users, 2);
    row.item = powerLaw(rnd.nextDouble(), items, 3);
    user(row);
    item(row);
    row.hour = rnd.nextInt(24);
    double d = rnd.nextDouble();
    row.device = d < 0.6 ? 0 : d < 0.9 ? 1 : 2;
    row.logit = trueLogit(row);
    row.clicked = rnd.nextDouble() < 1 / (1 + Math.exp(-row.logit));
    // The log context draws from a stream of its own: the feature columns do not depend on it.
    SplittableRandom log = new SplittableRandom(mix(seed ^ 0x6c6f67L, index));
    row.requestHigh = log.nextLong();
    row.requestLow = log.nextLong();
    row.session = log.nextLong();
    row.day = (int) (index / 10_000_000);
    row.millisOfHour = log.nextInt(3_600_000);
    row.appMinor = log.nextInt(20);
    row.agent = log.nextInt(USER_AGENTS[row.device].length);
  }

  private void user(Row row) {
    SplittableRandom rnd = new SplittableRandom(mix(seed ^ 0x75736572L, row.user));
    row.segment = rnd.nextInt(SEGMENTS);
    double c = rnd.nextDouble();
    row.country = (int) (COUNTRIES * c * c);
    row.age = rnd.nextDouble() < 0.05 ? Double.NaN : Math.min(90, 18 + Math.abs(rnd.nextGaussian()) * 15);
    int favourite = rnd.nextInt(CATEGORIES);
    row.recentCount = rnd.nextInt(row.recent.length + 1);
    for (int k = 0; k < row.recentCount; k++) {
      row.recent[k] = rnd.nextDouble() < 0.6 ? favourite : rnd.nextInt(CATEGORIES);
    }
    row.userBias = 0.3 * rnd.nextGaussian();
  }

  private void item(Row row) {
    SplittableRandom rnd = new SplittableRandom(mix(seed ^ 0x6974656dL, row.item));
    row.category = rnd.nextInt(CATEGORIES);
    row.tagCount = 1 + rnd.nextInt(row.tags.length);
    for (int k = 0; k < row.tagCount; k++) {
      row.tags[k] = rnd.nextDouble() < 0.7 ? (row.category * 7 + rnd.nextInt(7)) % TAGS : rnd.nextInt(TAGS);
    }
    row.price = Math.exp(3 + rnd.nextGaussian());
    row.itemQuality = 0.6 * rnd.nextGaussian();
  }

  private double trueLogit(Row row) {
    boolean day = row.hour >= 8 && row.hour < 20;
    boolean recent = false;
    for (int k = 0; k < row.recentCount; k++) {
      recent |= row.recent[k] == row.category;
    }
    return -2.2 + row.itemQuality + row.userBias
        + 1.2 * affinity[row.segment][row.category] * (day ? 1 : -1)
        + (recent ? 0.8 : 0)
        - (row.device == 0 ? 0.5 * (Math.log(row.price) - 3) : 0);
  }

  /** The planted affinity of a user segment for an item category. */
  float affinity(int segment, int category) {
    return affinity[segment][category];
  }

  /** The planted click logit of row {@code index}, without the label noise. */
  public double trueLogit(long index) {
    Row row = new Row();
    row(index, row);
    return row.logit;
  }

  /** Appends row {@code row} as one CSV line (with its line feed). */
  static void appendCsv(Row row, StringBuilder out) {
    out.append(row.clicked ? '1' : '0').append(",u").append(row.user).append(",s").append(row.segment)
        .append(",c").append(row.country).append(',');
    if (!Double.isNaN(row.age)) {
      out.append(Math.round(row.age * 10) / 10.0);
    }
    out.append(',');
    for (int k = 0; k < row.recentCount; k++) {
      out.append(k == 0 ? "k" : "|k").append(row.recent[k]);
    }
    out.append(",i").append(row.item).append(",k").append(row.category).append(',');
    for (int k = 0; k < row.tagCount; k++) {
      out.append(k == 0 ? "t" : "|t").append(row.tags[k]);
    }
    out.append(',').append(Math.round(row.price * 100) / 100.0).append(",h").append(row.hour)
        .append(',').append(DEVICES[row.device]).append(',');
    // request id as a version-4 UUID, the time as ISO 8601 within the row's ctx_hour
    hex(row.requestHigh >>> 32, 8, out);
    out.append('-');
    hex(row.requestHigh >>> 16, 4, out);
    out.append("-4");
    hex(row.requestHigh, 3, out);
    out.append('-').append(HEX.charAt(8 + (int) (row.requestLow >>> 62)));
    hex(row.requestLow >>> 48, 3, out);
    out.append('-');
    hex(row.requestLow, 12, out);
    int dayOfMonth = 1 + row.day % 31;  // ten million rows a day, all in December
    out.append(",2026-12-").append(dayOfMonth < 10 ? "0" : "").append(dayOfMonth).append('T')
        .append(row.hour < 10 ? "0" : "").append(row.hour).append(':');
    int minute = row.millisOfHour / 60_000;
    int second = row.millisOfHour / 1000 % 60;
    int millis = row.millisOfHour % 1000;
    out.append(minute < 10 ? "0" : "").append(minute).append(':').append(second < 10 ? "0" : "").append(second)
        .append('.').append(millis < 100 ? "0" : "").append(millis < 10 ? "0" : "").append(millis).append("Z,");
    hex(row.session, 16, out);
    out.append(",7.").append(row.appMinor).append(".2,\"").append(USER_AGENTS[row.device][row.agent]).append("\"\n");
  }

  /** Appends the low {@code digits} hex digits of {@code bits}. */
  private static void hex(long bits, int digits, StringBuilder out) {
    for (int k = digits - 1; k >= 0; k--) {
      out.append(HEX.charAt((int) (bits >>> (4 * k)) & 15));
    }
  }

  /**
   * Writes rows {@code [from, to)} to {@code file} as CSV with a header, gzipped when the name
   * ends in {@code .gz}, through a temporary name renamed at the end (a file of that name is
   * always complete). Returns the number of clicks written. Not thread-safe: one generator per
   * thread.
   */
  public long writeCsv(Path file, long from, long to) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".partial");
    long clicks = 0;
    try (OutputStream raw = Files.newOutputStream(tmp);
         OutputStream maybeGz = file.toString().endsWith(".gz") ? new GZIPOutputStream(raw, 1 << 16) : raw;
         Writer out = new BufferedWriter(new OutputStreamWriter(maybeGz, StandardCharsets.UTF_8), 1 << 16)) {
      out.write(HEADER);
      out.write('\n');
      Row row = new Row();
      StringBuilder line = new StringBuilder(320);
      for (long i = from; i < to; i++) {
        row(i, row);
        clicks += row.clicked ? 1 : 0;
        line.setLength(0);
        appendCsv(row, line);
        out.append(line);
      }
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    return clicks;
  }

  /**
   * The AUC of the planted logit itself on rows {@code [from, to)}: the best any model can reach
   * on them (at most 10 million rows, as it holds them in memory).
   */
  double oracleAuc(long from, long to) {
    if (to - from > 10_000_000) {
      throw new IllegalArgumentException("oracle AUC over more than 10,000,000 rows: " + (to - from));
    }
    int n = (int) (to - from);
    float[] scores = new float[n];
    float[] labels = new float[n];
    Row row = new Row();
    for (int i = 0; i < n; i++) {
      row(from + i, row);
      scores[i] = (float) row.logit;
      labels[i] = row.clicked ? 1f : 0f;
    }
    return Auc.of(scores, labels, n);
  }

  /** What to write: train rows split over files, then validation and test rows (other indices). */
  public record Spec(long seed, long users, long items, long trainRows, long validRows, long testRows,
      int trainFiles, boolean gzip) {
    public Spec {
      if (trainRows < 1 || validRows < 0 || testRows < 0) {
        throw new IllegalArgumentException("rows must be >= 1 and valid/test rows >= 0");
      }
      if (trainFiles < 1 || trainFiles > trainRows) {
        throw new IllegalArgumentException("train files must be between 1 and the train rows, got " + trainFiles);
      }
      if (testRows > 10_000_000) {
        throw new IllegalArgumentException("test rows must be at most 10,000,000 (their oracle AUC is computed in memory)");
      }
    }

    String suffix() {
      return gzip ? ".csv.gz" : ".csv";
    }
  }

  /** What {@link #writeDataSet} wrote. */
  public record Written(List<String> trainFiles, String validFile, String testFile, long clicks,
      long rows, double oracleTestAuc) {}

  /**
   * Writes {@code spec}'s files and {@code schema.yaml} into {@code dir} on {@code threads}
   * threads, calling {@code progress} with the rows written so far after each file.
   */
  public static Written writeDataSet(Path dir, Spec spec, int threads,
      LongConsumer progress) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    List<String> trainNames = new ArrayList<>();
    List<long[]> ranges = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (int f = 0; f < spec.trainFiles(); f++) {
      String name = String.format("train-%05d%s", f, spec.suffix());
      trainNames.add(name);
      names.add(name);
      ranges.add(new long[] {spec.trainRows() * f / spec.trainFiles(), spec.trainRows() * (f + 1) / spec.trainFiles()});
    }
    long end = spec.trainRows();
    String validName = null;
    String testName = null;
    if (spec.validRows() > 0) {
      validName = "valid" + spec.suffix();
      names.add(validName);
      ranges.add(new long[] {end, end + spec.validRows()});
      end += spec.validRows();
    }
    if (spec.testRows() > 0) {
      testName = "test" + spec.suffix();
      names.add(testName);
      ranges.add(new long[] {end, end + spec.testRows()});
    }
    Files.writeString(dir.resolve("schema.yaml"), schemaYaml());
    ClickLogGenerator world = new ClickLogGenerator(spec.seed(), spec.users(), spec.items());
    AtomicLong clicks = new AtomicLong();
    AtomicLong done = new AtomicLong();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int f = 0; f < names.size(); f++) {
        Path file = dir.resolve(names.get(f));
        long[] range = ranges.get(f);
        futures.add(pool.submit(() -> {
          clicks.addAndGet(world.copy().writeCsv(file, range[0], range[1]));
          progress.accept(done.addAndGet(range[1] - range[0]));
          return null;
        }));
      }
      for (Future<?> future : futures) {
        try {
          future.get();
        } catch (ExecutionException e) {
          if (e.getCause() instanceof IOException io) {
            throw io;
          }
          throw new IllegalStateException(e.getCause());
        }
      }
    } finally {
      pool.shutdownNow();
    }
    double oracle = testName == null ? Double.NaN : world.oracleAuc(end, end + spec.testRows());
    return new Written(trainNames, validName, testName, clicks.get(), done.get(), oracle);
  }

  /** A copy with the same planted world, for another thread. */
  public ClickLogGenerator copy() {
    return new ClickLogGenerator(seed, users, items);
  }

  /** An id in {@code [0, n)} with density proportional to {@code id^(1/power - 1)}. */
  private static long powerLaw(double u, long n, int power) {
    double x = u;
    for (int p = 1; p < power; p++) {
      x *= u;
    }
    return Math.min(n - 1, (long) (x * n));
  }

  /** SplitMix64's finaliser over the pair: independent streams per (seed, index). */
  static long mix(long seed, long index) {
    long z = seed * 0x9E3779B97F4A7C15L + index + 0x632BE59BD9B4E019L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
