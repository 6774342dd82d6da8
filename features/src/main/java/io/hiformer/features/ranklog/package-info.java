/**
 * The rank log: every answered Rank call with the exact model inputs of each candidate, written
 * to the {@code rank-log} topic without ever blocking or failing the call.
 *
 * <p>Entry points: {@link io.hiformer.features.ranklog.RankLogWriter#start} (a bounded buffer
 * and one sender thread; drops are counted) and {@link io.hiformer.features.ranklog.RankLogEntries}
 * (entry content from what the model scored).
 */
package io.hiformer.features.ranklog;
