package io.hiformer.ranker;

/**
 * Client input quoted in an error message, shortened: a message echoing a megabyte-long item id
 * would make the status trailer exceed the client's header limit, so the client would see a
 * transport error instead of what was wrong with its request.
 */
final class Echo {
  /** Characters of a value shown in an error message. */
  static final int SHOWN = 64;
  /** Characters of a whole status description, the last guard for messages built elsewhere. */
  static final int MAX_DESCRIPTION = 1024;

  private Echo() {}

  /** {@code value} itself when it has at most {@value #SHOWN} characters, else its start and its length. */
  static String of(String value) {
    return of(value, SHOWN);
  }

  /** {@code value} itself when it has at most {@code shown} characters, else its start and its length. */
  static String of(String value, int shown) {
    if (value == null || value.length() <= shown) {
      return value;
    }
    int end = Character.isHighSurrogate(value.charAt(shown - 1)) ? shown - 1 : shown;
    return value.substring(0, end) + "... (" + value.length() + " chars)";
  }
}
