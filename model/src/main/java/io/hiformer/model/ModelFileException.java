package io.hiformer.model;

/**
 * A model or safetensors file is malformed or does not match its config. The message names the
 * problem and, where there is one, the tensor or metadata entry at fault. Unchecked, so that the
 * byte-array readers need no {@code throws}; readers never throw any other exception for bad
 * input (I/O failures on a {@link java.nio.file.Path} stay {@link java.io.IOException}s).
 */
public class ModelFileException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ModelFileException(String message) {
    super(message);
  }

  public ModelFileException(String message, Throwable cause) {
    super(message, cause);
  }
}
