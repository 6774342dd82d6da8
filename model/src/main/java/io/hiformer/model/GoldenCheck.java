package io.hiformer.model;

import io.hiformer.kernels.CpuKernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Compares a model with an expected file in the format of docs/model.md, Expected files (inputs, hidden
 * states, logits, loss and gradients), and writes such files. This is what {@code hiformer verify}
 * runs, and how every golden file is checked.
 */
public final class GoldenCheck {
  /** The bounds of the spec: float32 against a float64 reference. */
  public static final double STATE_TOLERANCE = 1e-5;
  public static final double GRADIENT_TOLERANCE = 1e-4;

  private GoldenCheck() {}

  /**
   * The outcome of one comparison. Gradient errors are relative per tensor:
   * {@code max|g - g_ref| / max(max|g_ref|, 1e-3)}, so tensors with tiny gradients are compared
   * absolutely. {@code problems} lists expected keys that are missing or unknown.
   */
  public record Report(int examples, double stateError, String worstState, double logitError, double lossError,
      double gradientError, String worstGradient, List<String> problems) {

    public boolean passes() {
      return problems.isEmpty() && stateError <= STATE_TOLERANCE && logitError <= STATE_TOLERANCE
          && lossError <= STATE_TOLERANCE && gradientError <= GRADIENT_TOLERANCE;
    }
  }

  /** Runs {@code weights} on the inputs of {@code expected} on the CPU and measures the differences. */
  public static Report check(Parameters weights, SafeTensors expected, CpuKernels kernels) {
    return check(weights, expected, batch -> Pass.run(weights, batch, kernels));
  }

  /**
   * Runs {@code pass} (forward, loss and backward of {@code weights}: on the CPU, or the CUDA training
   * kernels) on the inputs of {@code expected} and measures the differences.
   */
  public static Report check(Parameters weights, SafeTensors expected, Function<Batch, Pass> run) {
    ModelConfig c = weights.config();
    List<String> problems = new ArrayList<>();
    Batch batch = inputs(c, expected);
    int n = batch.size();
    Pass pass = run.apply(batch);
    Parameters grads = pass.grads();
    double loss = pass.loss();

    Map<String, float[]> states = new LinkedHashMap<>();
    states.put("hidden.tokens", pass.tokens());
    for (int l = 0; l < c.layers(); l++) {
      states.put("hidden.layer" + l, pass.layers()[l]);
    }
    double stateError = 0;
    String worstState = "";
    for (Map.Entry<String, float[]> e : states.entrySet()) {
      if (!expected.has(e.getKey())) {
        problems.add("missing " + e.getKey());
        continue;
      }
      double err = maxAbsDiff(e.getValue(), expected.tensor(e.getKey()), problems);
      if (err >= stateError) {
        stateError = err;
        worstState = e.getKey();
      }
    }
    double logitError = expected.has("output.logits")
        ? maxAbsDiff(pass.logits(), expected.tensor("output.logits"), problems)
        : missing("output.logits", problems);
    double lossError = expected.has("output.loss")
        ? Math.abs(loss - expected.tensor("output.loss").floats()[0])
        : missing("output.loss", problems);

    double gradientError = 0;
    String worstGradient = "";
    for (Parameters.Tensor g : grads.tensors()) {
      String key = "grad." + g.name();
      if (!expected.has(key)) {
        problems.add("missing " + key);
        continue;
      }
      float[] ref = expected.tensor(key).floats();
      if (ref.length != g.size()) {
        problems.add(key + " has " + ref.length + " values, the model has " + g.size());
        continue;
      }
      double scale = 1e-3;
      double diff = 0;
      for (int i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]));
        diff = Math.max(diff, Math.abs(g.data()[i] - ref[i]));
      }
      if (diff / scale >= gradientError) {
        gradientError = diff / scale;
        worstGradient = g.name();
      }
    }
    for (SafeTensors.Tensor t : expected.tensors()) {
      String key = t.name();
      boolean known = key.startsWith("input.") || key.startsWith("output.") || states.containsKey(key)
          || (key.startsWith("grad.") && weights.has(key.substring(5)));
      if (!known) {
        problems.add("unknown key " + key);
      }
    }
    return new Report(n, stateError, worstState, logitError, lossError, gradientError, worstGradient, problems);
  }

  /**
   * Forward, loss and backward of a whole batch: what both sides of a golden comparison need. States
   * are {@code [B, L, d]} (tokens) and {@code [B, R_l, d]} (each layer's output), logits {@code [B, T]},
   * the loss {@code Σ mask·BCE / B}, gradients summed over the batch.
   */
  public record Pass(float[] tokens, float[][] layers, float[] logits, double loss, Parameters grads) {
    /** The CPU model's pass ({@link Hiformer}). */
    public static Pass run(Parameters weights, Batch batch, CpuKernels kernels) {
      int n = batch.size();
      Hiformer model = new Hiformer(weights, kernels);
      Activations act = new Activations(weights.config(), n, true);
      Parameters grads = Parameters.zeros(weights.config());
      model.forward(batch, 0, n, act);
      double loss = model.loss(batch, 0, n, act, n);
      model.backward(batch, 0, n, act, grads, n);
      float[][] layers = new float[weights.config().layers()][];
      for (int l = 0; l < layers.length; l++) {
        layers[l] = act.layers[l].out;
      }
      return new Pass(act.tokens, layers, act.logits, loss, grads);
    }
  }

  private static double missing(String key, List<String> problems) {
    problems.add("missing " + key);
    return Double.NaN;
  }

  private static double maxAbsDiff(float[] ours, SafeTensors.Tensor ref, List<String> problems) {
    float[] r = ref.floats();
    if (r.length > ours.length) {
      problems.add(ref.name() + " has " + r.length + " values, the model produced " + ours.length);
      return Double.NaN;
    }
    double err = 0;
    for (int i = 0; i < r.length; i++) {
      double e = Math.abs(ours[i] - r[i]);
      err = Double.isNaN(e) ? Double.POSITIVE_INFINITY : Math.max(err, e);
    }
    return err;
  }

  /** The batch of an expected file's {@code input.*} tensors. */
  public static Batch inputs(ModelConfig c, SafeTensors expected) {
    for (String key : List.of("input.cat", "input.dense", "input.labels", "input.label_mask")) {
      if (!expected.has(key)) {
        throw new ModelFileException("expected file has no " + key);
      }
    }
    int[] labelShape = expected.tensor("input.labels").shape();
    if (labelShape.length != 2 || labelShape[1] != c.numTasks()) {
      throw new ModelFileException("input.labels has shape " + Arrays.toString(labelShape) + ", expected [B, "
          + c.numTasks() + "]");
    }
    int n = labelShape[0];
    boolean bags = !c.bagFields().isEmpty();
    for (String key : List.of("input.bag_ids", "input.bag_offsets")) {
      if (bags && !expected.has(key)) {
        throw new ModelFileException("expected file has no " + key + " but the model has bag fields");
      }
    }
    // files for models without bags may leave the (empty) bag tensors out
    int[] bagIds = expected.has("input.bag_ids") ? expected.tensor("input.bag_ids").ints() : new int[0];
    int[] bagOffsets = expected.has("input.bag_offsets") ? expected.tensor("input.bag_offsets").ints()
        : new int[n * c.bagFields().size() + 1];
    try {
      return Batch.of(c, n, expected.tensor("input.cat").ints(), bagIds, bagOffsets, expected.tensor("input.dense").floats(),
          expected.tensor("input.labels").floats(), expected.tensor("input.label_mask").floats());
    } catch (IllegalArgumentException e) {
      throw new ModelFileException("expected file inputs do not fit the model: " + e.getMessage(), e);
    }
  }

  /** An expected file for {@code weights} on {@code batch}: what {@link #check} compares against. */
  public static SafeTensors expected(Parameters weights, Batch batch, CpuKernels kernels) {
    ModelConfig c = weights.config();
    int n = batch.size();
    Pass pass = Pass.run(weights, batch, kernels);
    Parameters grads = pass.grads();
    double loss = pass.loss();

    int d = c.tokenDim();
    int t = c.numTasks();
    int nb = c.bagFields().size();
    List<SafeTensors.Tensor> out = new ArrayList<>();
    int ncat = c.categoricalFields().size();
    out.add(SafeTensors.Tensor.i64("input.cat", new int[] {n, ncat}, longs(batch.categorical, n * ncat)));
    int bagEnd = batch.bagOffsets[n * nb];
    out.add(SafeTensors.Tensor.i64("input.bag_ids", new int[] {bagEnd}, longs(batch.bagIds, bagEnd)));
    out.add(SafeTensors.Tensor.i64("input.bag_offsets", new int[] {n * nb + 1}, longs(batch.bagOffsets, n * nb + 1)));
    out.add(SafeTensors.Tensor.f32("input.dense", new int[] {n, c.numDense()},
        Arrays.copyOf(batch.dense, n * c.numDense())));
    out.add(SafeTensors.Tensor.f32("input.labels", new int[] {n, t}, Arrays.copyOf(batch.labels, n * t)));
    out.add(SafeTensors.Tensor.f32("input.label_mask", new int[] {n, t}, Arrays.copyOf(batch.labelMask, n * t)));
    int l = c.numTokens();
    out.add(SafeTensors.Tensor.f32("hidden.tokens", new int[] {n, l, d}, Arrays.copyOf(pass.tokens(), n * l * d)));
    for (int layer = 0; layer < c.layers(); layer++) {
      int r = c.rows(layer);
      out.add(SafeTensors.Tensor.f32("hidden.layer" + layer, new int[] {n, r, d},
          Arrays.copyOf(pass.layers()[layer], n * r * d)));
    }
    out.add(SafeTensors.Tensor.f32("output.logits", new int[] {n, t}, Arrays.copyOf(pass.logits(), n * t)));
    out.add(SafeTensors.Tensor.f32("output.loss", new int[] {1}, new float[] {(float) loss}));
    for (Parameters.Tensor g : grads.tensors()) {
      out.add(SafeTensors.Tensor.f32("grad." + g.name(), g.shape(), g.data()));
    }
    return new SafeTensors(Map.of(), out);
  }

  private static long[] longs(int[] values, int n) {
    long[] out = new long[n];
    for (int i = 0; i < n; i++) {
      out[i] = values[i];
    }
    return out;
  }
}
