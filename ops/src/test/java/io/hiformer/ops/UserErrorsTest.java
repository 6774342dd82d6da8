package io.hiformer.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** User errors from the real command line: one line naming what is wrong, exit 2, never a stack trace. */
class UserErrorsTest {
  private static final Path GOLDEN = Path.of("../model/src/test/resources/golden");

  @TempDir
  Path dir;

  static void assertOneLineError(VerifyCommandTest.Result r, String... says) {
    assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(2);
    assertThat(r.err()).startsWith("error: ").contains(says).doesNotContain("Exception", "\tat ");
    assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
  }

  @Test
  void verifyOnAMissingFileADirectoryOrADeviceSaysWhatIsWrong() {
    String expected = GOLDEN.resolve("golden-small.expected.safetensors").toString();
    assertOneLineError(VerifyCommandTest.run("verify", dir.resolve("missing.safetensors").toString(), expected),
        "missing.safetensors", "no such file");
    assertOneLineError(VerifyCommandTest.run("verify", dir.toString(), expected), "is a directory");
    assertOneLineError(VerifyCommandTest.run("verify", "/dev/zero", expected), "/dev/zero", "not a regular file");
    assertOneLineError(VerifyCommandTest.run("verify", GOLDEN.resolve("golden-small.weights.safetensors").toString(),
        dir.resolve("nope").toString()), "nope", "no such file");
  }

  @Test
  void trainWithAMissingSchemaFileSaysSo() {
    VerifyCommandTest.Result r = VerifyCommandTest.run("train", "--schema", dir.resolve("none.yaml").toString(),
        "--train", dir.resolve("t.csv").toString(), "--valid", dir.resolve("v.csv").toString(),
        "--out", dir.resolve("m.safetensors").toString());
    assertOneLineError(r, "none.yaml", "no such file");
  }

  @Test
  void demoChecksItsOptionsBeforeTouchingItsFolder() throws Exception {
    Path out = Files.createDirectories(dir.resolve("demo"));
    Files.writeString(out.resolve(DemoCommand.MARKER), "");
    Files.writeString(out.resolve("keep.txt"), "mine");
    assertOneLineError(VerifyCommandTest.run("demo", "--out", out.toString(), "--users", "-3"), "--users", "-3");
    assertThat(out.resolve("keep.txt")).hasContent("mine");
    assertOneLineError(VerifyCommandTest.run("demo", "--out", out.toString(), "--top-k", "50"), "--top-k");
    assertThat(out.resolve("keep.txt")).hasContent("mine");
  }

  @Test
  void demoReplacesOnlyAFolderItMade() throws Exception {
    Path mine = Files.createDirectories(dir.resolve("work"));
    Files.writeString(mine.resolve("thesis.tex"), "years of work");
    assertOneLineError(VerifyCommandTest.run("demo", "--out", mine.toString()), "not made by the demo");
    assertThat(mine.resolve("thesis.tex")).hasContent("years of work");

    Path file = Files.writeString(dir.resolve("a-file"), "x");
    assertOneLineError(VerifyCommandTest.run("demo", "--out", file.resolve("sub").toString()), "a-file");
  }

  @Test
  void tlsFilesThatAreMissingOrNotPkcs8AreNamedWithWhatIsWrong() throws Exception {
    Path registry = Files.createDirectories(dir.resolve("registry"));
    Path cert = Files.writeString(dir.resolve("cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    Path rsa = Files.writeString(dir.resolve("rsa.pem"), "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
    assertOneLineError(VerifyCommandTest.run("serve", "--registry", registry.toString(), "--model", "m", "--port", "0",
        "--metrics-port", "0", "--tls-cert", cert.toString(), "--tls-key", rsa.toString()),
        "--tls-key", "not a PKCS#8 key", "RSA PRIVATE KEY", "openssl pkcs8");
    assertOneLineError(VerifyCommandTest.run("serve", "--registry", registry.toString(), "--model", "m", "--port", "0",
        "--metrics-port", "0", "--tls-cert", dir.resolve("gone.pem").toString(), "--tls-key", rsa.toString()),
        "--tls-cert", "gone.pem", "no such file");
    assertOneLineError(VerifyCommandTest.run("loadtest", "--target", "127.0.0.1:1", "--concurrency", "1",
        "--tls-ca", cert.toString(), "--tls-cert", cert.toString(), "--tls-key", rsa.toString()), "not a PKCS#8 key");
  }
}
