package io.hiformer.ranker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LowPriorityTest {
  /** The nice value of the calling thread, from /proc (field 19 of its stat line). */
  static int niceOfThisThread() throws Exception {
    String stat = Files.readString(Path.of("/proc/thread-self/stat"));
    // The command name (field 2) may hold spaces; the fields after it are space-separated.
    String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Integer.parseInt(after[19 - 3]);
  }

  @Test
  void theExecutorsThreadRunsAtNiceTenAndOthersAreUntouched() throws Exception {
    assumeTrue(System.getProperty("os.name", "").startsWith("Linux") && Files.exists(Path.of("/proc/thread-self/stat")),
        "needs Linux /proc");
    int before = niceOfThisThread();
    ExecutorService e = LowPriority.executor("hiformer-test-low");
    try {
      assertThat(e.submit(LowPriorityTest::niceOfThisThread).get(30, TimeUnit.SECONDS)).isEqualTo(10);
    } finally {
      e.shutdownNow();
    }
    assertThat(niceOfThisThread()).isEqualTo(before);
  }
}
