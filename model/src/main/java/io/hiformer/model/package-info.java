/**
 * Hiformer itself, as docs/model.md defines it: the config, the parameters, the batched forward
 * pass (one path for serving and training, the last layer pruned to the task tokens), the backward
 * pass, model files (safetensors) and their validation, golden checks and the model registry. It
 * knows nothing of Kafka, gRPC or feature files: it takes ids and floats in a {@code Batch} and
 * gives logits.
 *
 * <p>Entry points: {@code ModelConfig} (and {@code BundledConfigs} for the configs shipped in
 * the jar), {@code Parameters} (initialise, read and write a model file), {@code Batch} (the
 * inputs), {@code Hiformer} (forward and backward into per-thread {@code Activations}), the
 * scorers behind {@code Backend} (CPU or CUDA, chosen once), {@code ModelFile} and {@code
 * SafeTensors} (the file format, failing with {@code ModelFileException}), {@code ModelRegistry}
 * (versions, aliases, their history) and {@code GoldenCheck} (a model against an expected file).
 */
package io.hiformer.model;
