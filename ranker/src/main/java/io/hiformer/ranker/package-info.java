/**
 * The gRPC ranking service ({@code hiformer.v1.Ranker}): request validation, user and context
 * features once per request, one scoring batch per request (merged across calls on a GPU),
 * experiments, hot swap of model versions, health, TLS and bearer tokens, limits and Prometheus
 * metrics. Behaviour and figures in {@code ranker/README.md}.
 *
 * <p>Entry points: {@code RankerServer} (the server on a port), {@code RankService} (the Rank
 * call), {@code RegistryWatcher} (which versions serve, swapped in by polling or announcement),
 * {@code LoadedModel} (one servable version), {@code Scoring} (backend choice) and {@code
 * MetricsServer} (the HTTP port for metrics and probes). The {@code hiformer serve} command in
 * {@code ops} wires them from its options.
 */
package io.hiformer.ranker;
