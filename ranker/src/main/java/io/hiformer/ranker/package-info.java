/**
 * The gRPC ranking service ({@code hiformer.v1.Ranker}): request validation, user and context
 * features once per request, one scoring batch per request (merged across calls on a GPU),
 * experiments, hot swap of model versions, health, TLS and bearer tokens, limits and Prometheus
 * metrics. Behaviour and figures in {@code ranker/README.md}.
 *
 * <p>Entry point: {@link io.hiformer.ranker.Ranker#start} builds a running ranker (the gRPC server,
 * the registry and experiment watchers, Kafka, metrics) from {@link io.hiformer.ranker.Ranker.Options};
 * {@code hiformer serve} and the demo call it. Also public: {@code ScoringBackend} (CPU or CUDA,
 * passed in), {@code LoadedModel} (one servable version), {@code RequestRows} (a request's model
 * inputs), {@code BearerAuth} and {@code MetricsServer}, which the load generator and the joiner
 * reuse. The service, watchers, experiments and limits are package-private.
 */
package io.hiformer.ranker;
