package io.hiformer.features.online;

import io.hiformer.proto.FeatureUpdate;
import java.util.Random;

public final class ApplyScratch {
  public static void main(String[] args) throws Exception {
    int n = 1_000_000, entities = 100_000;
    Random random = new Random(1);
    byte[][] values = new byte[1_000_000][];
    for (int i = 0; i < values.length; i++) values[i] = IngestBenchmark.tenFields("u" + (i % entities), i + 1, random).toByteArray();
    var schema = StoreSchema.of(io.hiformer.features.FeatureSchema.parse(new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(args[0])))).fields());
    for (int round = 0; round < 5; round++) {
      long t0 = System.nanoTime(); long sum = 0;
      for (int i = 0; i < n; i++) { FeatureUpdate u = FeatureUpdate.parseFrom(values[i % values.length]); sum += u.getFieldsCount(); }
      long t1 = System.nanoTime();
      FeatureStore store = new FeatureStore(schema, 1_000_000);
      for (int i = 0; i < n; i++) { FeatureUpdate u = FeatureUpdate.parseFrom(values[i]); if (store.apply(u) != null) throw new AssertionError(); }
      long t2 = System.nanoTime();
      for (int i = 0; i < n; i++) { FeatureUpdate u = FeatureUpdate.parseFrom(values[i]); sum += u.getFieldsCount(); }
      long t3 = System.nanoTime();
      System.out.printf("parse %.0f/s  parse-again %.0f/s  parse+rebuild+apply %.0f/s  (%d)%n", n / ((t1 - t0) / 1e9), n / ((t3 - t2) / 1e9), n / ((t2 - t1) / 1e9), sum % 7);
    }
  }
}
