package io.hiformer.features;

/**
 * A row that cannot become an example: malformed text, a wrong column count, a value its
 * transform cannot read. The message starts with the row's location ({@code file:line}) so a
 * user can open the file at the right place.
 */
public final class BadRowException extends RuntimeException {
  private final String location;
  private final String reason;

  public BadRowException(String location, String reason) {
    this(location, reason, null);
  }

  public BadRowException(String location, String reason, Throwable cause) {
    super(location + ": " + reason, cause);
    this.location = location;
    this.reason = reason;
  }

  public String location() {
    return location;
  }

  public String reason() {
    return reason;
  }
}
