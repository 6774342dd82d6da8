package io.hiformer.ranker;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;

/**
 * A thread for background work that should mostly use CPU the Rank calls leave idle: on Linux it
 * runs at nice 10 (set through the C library's {@code setpriority} for the thread's own id), so
 * that reading and hashing a new model on a busy machine slows the calls being served little.
 * At nice 10 the scheduler weighs it about a tenth of a normal thread: it still progresses on a
 * saturated machine, where nice 19 would all but stop it. Java thread priorities do not do this on
 * Linux. Where it cannot be set, the thread runs at normal priority, with one log line.
 */
final class LowPriority {
  private static final System.Logger LOG = System.getLogger(LowPriority.class.getName());
  private static final int PRIO_PROCESS = 0;
  private static final int NICE = 10;

  private LowPriority() {}

  /** A single-thread executor whose daemon thread {@code name} runs at the lowest priority. */
  static ExecutorService executor(String name) {
    return Executors.newSingleThreadExecutor(task -> {
      Thread t = new Thread(() -> {
        lowerThisThread();
        task.run();
      }, name);
      t.setDaemon(true);
      return t;
    });
  }

  /** Sets the calling thread to nice 10; false (logged) where that is not possible. */
  static boolean lowerThisThread() {
    if (!System.getProperty("os.name", "").startsWith("Linux")) {
      return false;
    }
    try {
      Linker linker = Linker.nativeLinker();
      var libc = linker.defaultLookup();
      MethodHandle gettid = linker.downcallHandle(libc.find("gettid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
      MethodHandle setpriority = linker.downcallHandle(libc.find("setpriority").orElseThrow(),
          FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
      int tid = (int) gettid.invokeExact();
      int rc = (int) setpriority.invokeExact(PRIO_PROCESS, tid, NICE);
      if (rc != 0) {
        LOG.log(System.Logger.Level.INFO, "could not lower the priority of " + Thread.currentThread().getName());
      }
      return rc == 0;
    } catch (Throwable e) {
      LOG.log(System.Logger.Level.INFO, "could not lower the priority of " + Thread.currentThread().getName() + ": " + e);
      return false;
    }
  }
}
