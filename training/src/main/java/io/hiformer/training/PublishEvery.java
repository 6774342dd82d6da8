package io.hiformer.training;

import java.time.Duration;

/**
 * How often the continuous trainer publishes a version: after a time ({@code 10m}) or after a
 * number of trained examples ({@code 500000}); exactly one of the two is set. A time-based
 * publication waits for at least one newly trained example, so an idle stream publishes nothing.
 */
public record PublishEvery(Duration time, long examples) {
  public PublishEvery {
    if ((time == null) == (examples <= 0)) {
      throw new IllegalArgumentException("publish every needs exactly one of a positive time or a positive example"
          + " count");
    }
    if (time != null && (time.isNegative() || time.isZero())) {
      throw new IllegalArgumentException("publish every needs a positive time, got " + time);
    }
  }

  public static PublishEvery time(Duration every) {
    return new PublishEvery(every, 0);
  }

  public static PublishEvery examples(long every) {
    return new PublishEvery(null, every);
  }

  /** Whether a version is due, {@code trained} examples and {@code elapsed} after the last one. */
  boolean due(long trained, Duration elapsed) {
    return trained > 0 && (time == null ? trained >= examples : elapsed.compareTo(time) >= 0);
  }

  @Override
  public String toString() {
    return time == null ? examples + " examples" : time.toString();
  }
}
