package io.hiformer.training;

import io.hiformer.model.Parameters;
import io.hiformer.model.SafeTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything needed to continue a training run exactly where it stopped: weights, Adam's moments
 * and counters, the best weights so far and the early-stopping state. One safetensors file,
 * replaced atomically after each epoch, so a crash leaves the previous epoch's checkpoint.
 */
public final class Checkpoint {
  public static final String FILE = "checkpoint.safetensors";

  /** Where the run stood after {@code epoch}. */
  public record State(int epoch, double bestScore, int bestEpoch, int epochsWithoutGain) {}

  private Checkpoint() {}

  public static void write(Path dir, Trainer trainer, Parameters best, State state) throws IOException {
    Files.createDirectories(dir);
    List<SafeTensors.Tensor> tensors = new ArrayList<>();
    add(tensors, "param.", trainer.parameters());
    add(tensors, "adam.m.", trainer.optimizer().firstMoments());
    add(tensors, "adam.v.", trainer.optimizer().secondMoments());
    add(tensors, "best.", best);
    if (trainer.evaluationParameters() != trainer.parameters()) {
      add(tensors, "ema.", trainer.evaluationParameters());
    }
    Map<String, String> meta = new HashMap<>();
    meta.put("config", trainer.parameters().config().toJson());
    meta.put("epoch", Integer.toString(state.epoch()));
    meta.put("best_score", Double.toString(state.bestScore()));
    meta.put("best_epoch", Integer.toString(state.bestEpoch()));
    meta.put("epochs_without_gain", Integer.toString(state.epochsWithoutGain()));
    meta.put("adam_steps", Long.toString(trainer.optimizer().steps()));
    meta.put("adam_decay_product", Double.toString(trainer.optimizer().decayProduct()));
    new SafeTensors(meta, tensors).write(dir.resolve(FILE));
  }

  /** Whether {@code dir} holds a checkpoint to resume from. */
  public static boolean exists(Path dir) {
    return dir != null && Files.isRegularFile(dir.resolve(FILE));
  }

  /**
   * Restores {@code trainer} (built with the same config and options) and {@code best} from the
   * checkpoint in {@code dir}; returns the state to continue from.
   */
  public static State restore(Path dir, Trainer trainer, Parameters best) throws IOException {
    SafeTensors file = SafeTensors.read(dir.resolve(FILE));
    Map<String, String> meta = file.metadata();
    if (!trainer.parameters().config().toJson().equals(meta.get("config"))) {
      throw new IllegalArgumentException("checkpoint in " + dir + " is for another model config");
    }
    fill(file, "param.", trainer.parameters());
    fill(file, "adam.m.", trainer.optimizer().firstMoments());
    fill(file, "adam.v.", trainer.optimizer().secondMoments());
    fill(file, "best.", best);
    if (trainer.evaluationParameters() != trainer.parameters()) {
      fill(file, "ema.", trainer.evaluationParameters());
    }
    trainer.optimizer().restore(Long.parseLong(meta.get("adam_steps")),
        Double.parseDouble(meta.get("adam_decay_product")));
    return new State(Integer.parseInt(meta.get("epoch")), Double.parseDouble(meta.get("best_score")),
        Integer.parseInt(meta.get("best_epoch")), Integer.parseInt(meta.get("epochs_without_gain")));
  }

  private static void add(List<SafeTensors.Tensor> out, String prefix, Parameters p) {
    for (Parameters.Tensor t : p.tensors()) {
      out.add(SafeTensors.Tensor.f32(prefix + t.name(), t.shape(), t.data()));
    }
  }

  private static void fill(SafeTensors file, String prefix, Parameters p) {
    for (Parameters.Tensor t : p.tensors()) {
      float[] v = file.tensor(prefix + t.name()).floats();
      System.arraycopy(v, 0, t.data(), 0, t.size());
    }
  }
}
