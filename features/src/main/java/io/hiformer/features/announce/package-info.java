/**
 * Model announcements on the compacted {@code models} topic, so running rankers load a new
 * version (or follow an alias move) at once instead of at their next registry poll.
 *
 * <p>Entry points: {@link io.hiformer.features.announce.ModelAnnouncer} (publish a registry
 * version) and {@link io.hiformer.features.announce.AnnouncementListener} (follow one model's
 * announcements on a thread of its own).
 */
package io.hiformer.features.announce;
