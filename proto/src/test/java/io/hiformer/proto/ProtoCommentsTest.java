package io.hiformer.proto;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every declaration in the .proto files (message, enum, enum value, field, oneof, service, rpc)
 * must have a leading {@code //} comment on the line right above it: protoc attaches only such
 * comments to the declaration, so they reach generated code and descriptors.
 */
class ProtoCommentsTest {

  private static final Path PROTO_ROOT = Path.of("src/main/proto");

  /** File-level statements that need no comment of their own. */
  private static final Pattern EXEMPT =
      Pattern.compile("^(syntax|edition|package|import|option|reserved)\\b.*|^}.*");

  @Test
  void everyDeclarationIsDocumented() throws IOException {
    List<Path> files;
    try (Stream<Path> walk = Files.walk(PROTO_ROOT)) {
      files = walk.filter(p -> p.toString().endsWith(".proto")).sorted().toList();
    }
    assertThat(files).extracting(p -> p.getFileName().toString())
        .contains("common.proto", "ranker.proto", "features.proto", "ranklog.proto",
            "outcomes.proto", "examples.proto", "models.proto");

    List<String> problems = new ArrayList<>();
    int declarations = 0;
    for (Path file : files) {
      String text = Files.readString(file);
      declarations += declarations(text);
      violations(text).forEach(v -> problems.add(PROTO_ROOT.relativize(file) + ":" + v));
    }

    assertThat(declarations).isGreaterThan(80);
    assertThat(problems).as("undocumented declarations").isEmpty();
  }

  @Test
  void checkerFindsUndocumentedDeclarations() {
    String proto = """
        syntax = "proto3";
        // Documented.
        message A {
          // Documented.
          string a = 1;

          int64 b = 2;
          // Detached by a blank line, so not attached.

          oneof c {
            double d = 3;
          }
        }
        enum E {
          E_UNSPECIFIED = 0;
        }
        // Documented service.
        service S {
          rpc Do(A) returns (A);
        }
        // Documented, but its members are hidden on one line.
        message B { string x = 1; }
        """;

    assertThat(violations(proto)).extracting(v -> v.substring(0, v.indexOf(':')))
        .containsExactly("7", "10", "11", "14", "15", "19", "22");
  }

  static int declarations(String proto) {
    return (int) proto.lines().map(String::strip)
        .filter(l -> !l.isEmpty() && !l.startsWith("//") && !EXEMPT.matcher(l).matches())
        .count();
  }

  /** "line: declaration" for each declaration without a comment on the line right above it. */
  static List<String> violations(String proto) {
    List<String> out = new ArrayList<>();
    String[] lines = proto.split("\n", -1);
    boolean commented = false;
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].strip();
      if (line.startsWith("//")) {
        commented = true;
        continue;
      }
      if (!line.isEmpty() && !EXEMPT.matcher(line).matches()) {
        int brace = line.indexOf('{');
        if (!commented) {
          out.add((i + 1) + ": " + line);
        } else if (brace >= 0 && !line.substring(brace + 1).strip().matches("}?")) {
          out.add((i + 1) + ": members must be on their own lines: " + line);
        }
      }
      commented = false;
    }
    return out;
  }
}
