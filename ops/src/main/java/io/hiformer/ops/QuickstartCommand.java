package io.hiformer.ops;

import io.hiformer.kernels.CpuKernels;
import io.hiformer.model.Batch;
import io.hiformer.model.CpuScorer;
import io.hiformer.model.Dropout;
import io.hiformer.model.GoldenCheck;
import io.hiformer.model.ModelConfig;
import io.hiformer.model.ModelFile;
import io.hiformer.model.Parameters;
import io.hiformer.training.Adam;
import io.hiformer.training.Auc;
import io.hiformer.training.ExampleSet;
import io.hiformer.training.Metrics;
import io.hiformer.training.SyntheticCtr;
import io.hiformer.training.Trainer;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code hiformer quickstart}: the main job until the full demo exists. Trains a small model on
 * synthetic clicks, saves it, reloads it and verifies the reloaded model.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
    description = {
        "Trains a small Hiformer on synthetic clicks whose probability depends on a planted"
            + " user segment x item category x hour-of-day interaction, writes the model file, reads it back,"
            + " and verifies the reloaded model against an expected file (inputs, hidden states, logits, loss,"
            + " gradients) computed by the scalar reference kernels from the trained one.",
        "Exits 0 when the model learned the interaction (validation AUC within 0.05 of the planted truth's)"
            + " and verification passed."})
final class QuickstartCommand implements Callable<Integer> {

  @Option(names = "--out", defaultValue = "quickstart-out", description = "output directory (default: ${DEFAULT-VALUE})")
  Path out;

  @Option(names = "--examples", defaultValue = "40000", description = "training examples (default: ${DEFAULT-VALUE})")
  int examples;

  @Option(names = "--epochs", defaultValue = "4", description = "passes over the training data (default: ${DEFAULT-VALUE})")
  int epochs;

  @Option(names = "--seed", defaultValue = "1", description = "seed for data and initialisation (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--kernels", defaultValue = "auto", description = "CPU kernels: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE})")
  KernelChoice kernels;

  private static final int BATCH = 256;

  @Override
  public Integer call() throws Exception {
    PrintStream o = System.out;
    ModelConfig config = SyntheticCtr.config();
    SyntheticCtr data = new SyntheticCtr(seed);
    SplittableRandom rnd = new SplittableRandom(seed);
    ExampleSet train = examples(config, data, examples, rnd);
    ExampleSet valid = examples(config, data, 8192, rnd);
    CpuKernels k = kernels.kernels();
    o.printf("quickstart: %d training and %d validation examples, %d tokens, kernels %s%n",
        examples, 8192, config.numTokens(), k.name());

    Parameters params = Parameters.initialize(config, seed);
    int threads = Runtime.getRuntime().availableProcessors();
    Trainer.Options options = new Trainer.Options(BATCH, 3e-3, 0, Dropout.NONE, Adam.Settings.defaults(), threads, seed);
    double oracle = oracleAuc(data, valid);
    double auc = Double.NaN;
    try (Trainer trainer = new Trainer(params, options, k); CpuScorer scorer = new CpuScorer(trainer.model(), threads)) {
     for (int epoch = 1; epoch <= epochs; epoch++) {
      long start = System.nanoTime();
      double loss = 0;
      int steps = 0;
      for (Batch b : train.batches(BATCH, true, seed + epoch)) {
        loss += trainer.step(b);
        steps++;
      }
      loss /= steps;
      double seconds = (System.nanoTime() - start) / 1e9;
      auc = Metrics.evaluate(scorer, valid, 1024).getFirst().auc();
      o.printf("epoch %d: train loss %.4f, valid AUC %.4f (planted truth %.4f), %.0f examples/s%n",
          epoch, loss, auc, oracle, examples / seconds);
     }
    }

    Files.createDirectories(out);
    Path modelFile = out.resolve("model.safetensors");
    ModelFile.write(modelFile, params, Map.of("trained_by", "hiformer quickstart", "valid_auc", Double.toString(auc)));
    Parameters reloaded = ModelFile.read(modelFile);
    for (Parameters.Tensor t : params.tensors()) {
      if (!Arrays.equals(t.data(), reloaded.get(t.name()))) {
        o.println("FAIL: " + t.name() + " differs after the round trip through " + modelFile);
        return 1;
      }
    }
    Path expectedFile = out.resolve("expected.safetensors");
    Batch sample = new Batch(config, 16);
    data.sample(sample, 16, new SplittableRandom(seed + 1));
    GoldenCheck.expected(reloaded, sample, CpuKernels.scalar()).write(expectedFile);
    GoldenCheck.Report r = GoldenCheck.check(reloaded, io.hiformer.model.SafeTensors.read(expectedFile), k);
    o.printf("model written to %s (%d parameters) and read back bit-exact%n", modelFile, params.count());
    o.printf("verify %s with %s: logits %.2e, states %.2e, loss %.2e, gradients %.2e (relative): %s%n",
        expectedFile, k.name(), r.logitError(), r.stateError(), r.lossError(), r.gradientError(),
        r.passes() ? "PASS" : "FAIL");
    o.printf("try: ./hiformer verify %s %s%n", modelFile, expectedFile);
    boolean learned = auc >= oracle - 0.05;
    if (!learned) {
      o.printf("FAIL: validation AUC %.4f is more than 0.05 below the planted truth's %.4f%n", auc, oracle);
    }
    return learned && r.passes() ? 0 : 1;
  }

  private static ExampleSet examples(ModelConfig config, SyntheticCtr data, int n, SplittableRandom rnd) {
    ExampleSet out = new ExampleSet(config);
    Batch b = new Batch(config, BATCH);
    for (int done = 0; done < n; done += BATCH) {
      data.sample(b, Math.min(BATCH, n - done), rnd);
      out.addAll(b);
    }
    return out;
  }

  /** The AUC of the planted logit itself: the best any model can do on this data. */
  private static double oracleAuc(SyntheticCtr data, ExampleSet examples) {
    int total = examples.size();
    float[] scores = new float[total];
    float[] labels = new float[total];
    int k = 0;
    for (Batch b : examples.batches(BATCH, false, 0)) {
      for (int i = 0; i < b.size(); i++, k++) {
        scores[k] = (float) data.trueLogit(b.categorical(i, 1) - 1, b.categorical(i, 2) - 1,
            b.categorical(i, 3) - 1, b.dense(i, 0));
        labels[k] = b.label(i, 0);
      }
    }
    return Auc.of(scores, labels, total);
  }
}
