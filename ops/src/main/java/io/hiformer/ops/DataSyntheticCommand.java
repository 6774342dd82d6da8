package io.hiformer.ops;

import io.hiformer.training.ClickLogGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hiformer data synthetic}: click logs with planted interactions, any row count. */
@Command(name = "synthetic", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Writes click logs with planted interactions at realistic cardinality (power-law users and items, bags,"
            + " dense fields) as CSV files, plus schema.yaml to train on them; prints the train command that reads them.",
        "Row i depends only on the seed and i: the same options give the same files, byte for byte. Prints the test"
            + " rows' oracle AUC (the planted logit's own), the best a model can reach.",
        "Exits 2 on bad options or an output folder it cannot write."})
final class DataSyntheticCommand implements Callable<Integer> {

  @Option(names = "--out", required = true, paramLabel = "DIR",
      description = "output folder (created; files of the same names are replaced)")
  Path out;

  @Option(names = "--rows", required = true, paramLabel = "N", description = "training rows")
  long rows;

  @Option(names = "--valid-rows", defaultValue = "100000", paramLabel = "N",
      description = "validation rows, valid.csv (default: ${DEFAULT-VALUE}; 0 writes none)")
  long validRows;

  @Option(names = "--test-rows", defaultValue = "100000", paramLabel = "N",
      description = "test rows, test.csv (default: ${DEFAULT-VALUE}; at most 10,000,000; 0 writes none)")
  long testRows;

  @Option(names = "--users", defaultValue = "10000000", paramLabel = "N",
      description = "distinct users to draw from (default: ${DEFAULT-VALUE})")
  long users;

  @Option(names = "--items", defaultValue = "1000000", paramLabel = "N",
      description = "distinct items to draw from (default: ${DEFAULT-VALUE})")
  long items;

  @Option(names = "--files", paramLabel = "N",
      description = "training files (default: one per 1,000,000 rows, at least one)")
  Integer files;

  @Option(names = "--gzip", description = "gzip every file (.csv.gz)")
  boolean gzip;

  @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--threads", paramLabel = "N", description = "writer threads (default: the cores)")
  Integer threads;

  @Override
  public Integer call() throws IOException, InterruptedException {
    // Bad options and unwritable folders are user errors: one line, exit 2 (UserErrors).
    int writers = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
    if (writers < 1) {
      throw new IllegalArgumentException("--threads must be at least 1, got " + writers);
    }
    int fileCount = files != null ? files : (int) Math.max(1, Math.min(Integer.MAX_VALUE, rows / 1_000_000));
    ClickLogGenerator.Spec spec = new ClickLogGenerator.Spec(seed, users, items, rows, validRows, testRows, fileCount, gzip);
    new ClickLogGenerator(seed, users, items);
    if (Files.exists(out) && !Files.isDirectory(out)) {
      throw new IllegalArgumentException("--out " + out + ": not a directory");
    }
    long total = rows + validRows + testRows;
    long start = System.nanoTime();
    ClickLogGenerator.Written written = ClickLogGenerator.writeDataSet(out, spec, writers, done -> {
      double seconds = (System.nanoTime() - start) / 1e9;
      System.err.printf(Locale.ROOT, "  %,d / %,d rows (%.0f%%), %,.0f rows/s%n", done, total,
          100.0 * done / total, done / seconds);
    });
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf(Locale.ROOT, "wrote %,d rows (%,d clicks, CTR %.4f) to %s in %.1f s (%,.0f rows/s)%n",
        written.rows(), written.clicks(), (double) written.clicks() / written.rows(), out, seconds,
        written.rows() / seconds);
    System.out.println("  train: " + written.trainFiles().getFirst()
        + (written.trainFiles().size() > 1 ? " ... " + written.trainFiles().getLast() : ""));
    if (written.validFile() != null) {
      System.out.println("  valid: " + written.validFile());
    }
    if (written.testFile() != null) {
      System.out.printf(Locale.ROOT, "  test:  %s (oracle AUC %.4f)%n", written.testFile(), written.oracleTestAuc());
    }
    System.out.println("  schema: schema.yaml");
    System.out.println("train on it with:");
    System.out.println("  hiformer train --schema " + out.resolve("schema.yaml") + " --data-dir " + out + " --train "
        + String.join(",", written.trainFiles())
        + (written.validFile() != null ? " --valid " + written.validFile() : "")
        + (written.testFile() != null ? " --test " + written.testFile() : "") + " --out model.safetensors");
    return 0;
  }
}
