/**
 * The load generator behind {@code hiformer loadtest}: synthetic Rank requests from a seeded
 * generator, sent over gRPC closed loop (virtual users) or open loop (fixed rate, latency from the
 * intended send time, in-flight cap with drops counted), or scored in process as a baseline; the
 * figures (HdrHistogram percentiles, rate, counts by status) printed or written as JSON.
 *
 * <p>Entry points: {@link io.hiformer.ops.loadtest.RankLoad} (over a channel from {@link
 * io.hiformer.ops.loadtest.RankLoad#channel}), {@link io.hiformer.ops.loadtest.InProcessLoad},
 * both taking a {@link io.hiformer.ops.loadtest.LoadSpec} and giving a {@link
 * io.hiformer.ops.loadtest.Report}; {@link io.hiformer.ops.loadtest.SyntheticRequests} (also the
 * value naming that {@code models synthetic} fits its vocabularies on). Options and their checks
 * stay in the command ({@code LoadtestCommand}).
 */
package io.hiformer.ops.loadtest;
