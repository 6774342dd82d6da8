package io.hiformer.training;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The git commit of the working directory's repository, read from .git without running git. */
final class SourceCommit {
  private SourceCommit() {}

  static String find() {
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path git = dir.resolve(".git");
      if (Files.isDirectory(git)) {
        try {
          String head = Files.readString(git.resolve("HEAD")).trim();
          if (!head.startsWith("ref: ")) {
            return head;
          }
          Path ref = git.resolve(head.substring(5));
          if (Files.exists(ref)) {
            return Files.readString(ref).trim();
          }
          for (String line : Files.readAllLines(git.resolve("packed-refs"))) {
            if (line.endsWith(" " + head.substring(5))) {
              return line.substring(0, line.indexOf(' '));
            }
          }
        } catch (IOException e) {
          return "unknown";
        }
        return "unknown";
      }
    }
    return "unknown";
  }
}
