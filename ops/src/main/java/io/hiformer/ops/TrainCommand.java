package io.hiformer.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.hiformer.model.Dropout;
import io.hiformer.model.ModelFile;
import io.hiformer.model.ModelRegistry;
import io.hiformer.training.Adam;
import io.hiformer.training.TrainJob;
import io.hiformer.training.Trainer;
import io.hiformer.training.TrainingRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hiformer train}: fit transforms, train with early stopping, publish or write the model. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Trains a Hiformer from data files and writes or publishes it.",
        "Fits the schema's feature transforms on the training files, trains with early stopping on validation AUC,",
        "reports validation (and test) AUC and log loss per task, and writes the model file (--out) or publishes a",
        "new version to a registry (--registry, --name). Data files are CSV, TSV or libFM (optionally .gz), chosen",
        "by extension, relative to --data-dir."})
final class TrainCommand implements Callable<Integer> {

  @Option(names = "--schema", required = true, description = "feature schema (YAML)")
  Path schema;

  @Option(names = "--data-dir", defaultValue = ".", description = "directory of the data files and joined tables (default: ${DEFAULT-VALUE})")
  Path dataDir;

  @Option(names = "--train", required = true, split = ",", description = "training files")
  List<String> train;

  @Option(names = "--valid", required = true, split = ",", description = "validation files (early stopping)")
  List<String> valid;

  @Option(names = "--test", split = ",", description = "test files, scored once with the best epoch")
  List<String> test = List.of();

  @Option(names = "--name", defaultValue = "model", description = "model name (default: ${DEFAULT-VALUE})")
  String name;

  @Option(names = "--out", description = "write the model file here")
  Path out;

  @Option(names = "--registry", description = "publish a new version into this registry directory")
  Path registry;

  @Option(names = "--report-json", description = "write the final metrics and history here")
  Path reportJson;

  @Option(names = "--checkpoint-dir", description = "checkpoint after every epoch; resume from one found here")
  Path checkpoints;

  @Option(names = "--token-dim", defaultValue = "16", description = "token dimension d (default: ${DEFAULT-VALUE})") int tokenDim;
  @Option(names = "--heads", defaultValue = "2", description = "attention heads (default: ${DEFAULT-VALUE})") int heads;
  @Option(names = "--layers", defaultValue = "2", description = "layers (default: ${DEFAULT-VALUE})") int layers;
  @Option(names = "--rank-k", defaultValue = "32", description = "rank of the composite key projection (default: ${DEFAULT-VALUE})") int rankK;
  @Option(names = "--rank-v", defaultValue = "64", description = "rank of the composite value projection (default: ${DEFAULT-VALUE})") int rankV;
  @Option(names = "--ffn-mult", defaultValue = "2", description = "FFN width as a multiple of d (default: ${DEFAULT-VALUE})") int ffnMult;
  @Option(names = "--tower", defaultValue = "64,32", split = ",", description = "tower hidden widths (default: ${DEFAULT-VALUE})")
  List<Integer> tower;
  @Option(names = "--dense-tokens", defaultValue = "1", description = "tokens the dense fields are projected into (default: ${DEFAULT-VALUE})") int denseTokens;
  @Option(names = "--variant", defaultValue = "hiformer", description = "hiformer, hetero (per-token keys and values) or vanilla (shared Q, K, V, O, FFN)")
  String variant;
  @Option(names = "--no-prune", description = "compute every token's row in the last layer") boolean noPrune;

  @Option(names = "--epochs", defaultValue = "30", description = "most epochs (default: ${DEFAULT-VALUE})") int epochs;
  @Option(names = "--patience", defaultValue = "3", description = "epochs without a better validation AUC before stopping") int patience;
  @Option(names = "--batch-size", defaultValue = "1024", description = "examples per step (default: ${DEFAULT-VALUE})") int batchSize;
  @Option(names = "--lr", defaultValue = "1e-3", description = "Adam learning rate (default: ${DEFAULT-VALUE})") double lr;
  @Option(names = "--warmup", defaultValue = "0", description = "linear learning-rate warm-up steps") int warmup;
  @Option(names = "--dropout", defaultValue = "0.2", description = "attention, FFN and tower dropout") float dropout;
  @Option(names = "--token-dropout", defaultValue = "0.2", description = "dropout on field tokens") float tokenDropout;
  @Option(names = "--embedding-decay", defaultValue = "0", description = "decoupled weight decay on embeddings (AdamW, per step x lr)") double embeddingDecay;
  @Option(names = "--embedding-l2", defaultValue = "0", description = "L2 penalty on the embedding rows a batch uses") double embeddingL2;
  @Option(names = "--ema", defaultValue = "0", description = "moving average of the weights for evaluation and the final model, e.g. 0.999 (0: off)") double ema;
  @Option(names = "--threads", description = "training threads (default: all processors)") Integer threads;
  @Option(names = "--seed", defaultValue = "1", description = "seed of initialisation, data order and dropout (default: ${DEFAULT-VALUE})") long seed;
  @Option(names = "--max-bad-rows", defaultValue = "0", description = "skip and count up to this many bad rows per file set, then stop") long maxBadRows;

  @Option(names = "--kernels", defaultValue = "auto", description = "CPU kernels: ${COMPLETION-CANDIDATES}")
  KernelChoice kernels;

  @Override
  public Integer call() throws Exception {
    if ((out == null) == (registry == null)) {
      System.err.println("error: give exactly one of --out FILE or --registry DIR");
      return 2;
    }
    int t = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
    Trainer.Options options = new Trainer.Options(batchSize, lr, warmup,
        new Dropout(tokenDropout, dropout, dropout, dropout),
        Adam.Settings.defaults().withEmbeddingRegularisation(embeddingDecay, embeddingL2), t, seed, ema);
    TrainJob.Spec spec = new TrainJob.Spec(name, schema, dataDir, train, valid, test,
        new TrainJob.Shape(tokenDim, heads, layers, rankK, rankV, ffnMult, tower, denseTokens, !noPrune,
            io.hiformer.model.ModelConfig.Variant.fromJson(variant)),
        options, epochs, patience, maxBadRows, checkpoints);
    TrainJob.Outcome outcome;
    try {
      outcome = TrainJob.run(spec, kernels.kernels(), TrainingRun.Progress.console());
    } catch (io.hiformer.features.BadRowException | IllegalArgumentException | java.io.UncheckedIOException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }

    Map<String, Object> report = outcome.report();
    System.out.println("valid: " + report.get("valid"));
    if (report.containsKey("test")) {
      System.out.println("test:  " + report.get("test"));
    }
    if (out != null) {
      ModelFile.write(out, outcome.parameters(), outcome.metadata());
      System.out.println("model written to " + out);
    } else {
      ModelRegistry.Version v = ModelRegistry.open(registry).publish(name, outcome.parameters(), outcome.metadata(),
          outcome.lineageJson());
      report.put("published", Map.of("model", v.model(), "version", v.number(), "sha256", v.sha256()));
      System.out.printf("published %s version %d to %s%n", v.model(), v.number(), registry);
    }
    if (reportJson != null) {
      Files.writeString(reportJson, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
          .writeValueAsString(report));
    }
    return 0;
  }
}
