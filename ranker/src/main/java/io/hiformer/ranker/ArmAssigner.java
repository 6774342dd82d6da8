package io.hiformer.ranker;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Objects;

/**
 * Assigns an experiment unit to an arm: SHA-256 of {@code salt + ":" + unit}, its first 8 bytes
 * as a uniform double in [0, 1), then the arm whose cumulative share range holds it. A pure
 * function of salt, unit and the arms' shares (in file order), so stable across restarts.
 */
final class ArmAssigner {
  private final String salt;
  private final List<String> names;
  private final double[] cumulative;

  public ArmAssigner(String salt, List<String> names, double[] shares) {
    this.salt = Objects.requireNonNull(salt, "salt");
    this.names = List.copyOf(names);
    if (names.isEmpty() || names.size() != shares.length) {
      throw new IllegalArgumentException("need one share per arm and at least one arm");
    }
    cumulative = new double[shares.length];
    double sum = 0;
    for (int i = 0; i < shares.length; i++) {
      sum += shares[i];
      cumulative[i] = sum;
    }
  }

  public ArmAssigner(Experiments experiments) {
    this(experiments.salt(), experiments.arms().stream().map(Experiments.Arm::name).toList(),
        experiments.arms().stream().mapToDouble(Experiments.Arm::share).toArray());
  }

  /** The unit's uniform hash in [0, 1). */
  public double hash(String unit) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] d = sha.digest((salt + ":" + unit).getBytes(StandardCharsets.UTF_8));
    return (ByteBuffer.wrap(d).getLong() >>> 11) * 0x1.0p-53;
  }

  /** The index of the unit's arm. */
  public int index(String unit) {
    double h = hash(unit);
    for (int i = 0; i < cumulative.length - 1; i++) {
      if (h < cumulative[i]) {
        return i;
      }
    }
    return cumulative.length - 1; // the last arm takes any rounding remainder
  }

  /** The name of the unit's arm. */
  public String assign(String unit) {
    return names.get(index(unit));
  }

  public List<String> names() {
    return names;
  }
}
