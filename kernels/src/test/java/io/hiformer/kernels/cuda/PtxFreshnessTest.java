package io.hiformer.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Runs everywhere: the shipped PTX was built from the CUDA sources as they are now. */
class PtxFreshnessTest {
  private static final Path SOURCES = Path.of("src/main/cuda");

  @Test
  void committedPtxMatchesTheSources() throws Exception {
    String recorded;
    try (InputStream in = CudaDevice.class.getResourceAsStream(CudaDevice.PTX + ".sha256")) {
      assertThat(in).as("resource %s.sha256", CudaDevice.PTX).isNotNull();
      recorded = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
    }
    assertThat(sourceHash())
        .as("the PTX in src/main/resources is stale: run kernels/src/main/cuda/build-ptx.sh (needs nvcc) and commit it")
        .isEqualTo(recorded);
  }

  @Test
  void ptxHasEveryKernelTheLayoutMayLaunch() throws Exception {
    String ptx = new String(CudaDevice.ptx(), StandardCharsets.US_ASCII);
    assertThat(ptx).contains(".target sm_90");
    for (int[] v : FusedLayout.COMPILED) {
      for (Precision p : Precision.values()) {
        String name = new FusedLayout.Variant(v[0], v[1], v[2], v[3], p).kernelName();
        assertThat(ptx).as("entry %s", name).contains(".entry " + name + "(");
      }
    }
    for (String name : new String[] {"hf_train_step", "hf_train_grads"}) {   // FusedTraining's
      assertThat(ptx).as("entry %s", name).contains(".entry " + name + "(");
    }
    String optim = new String(CudaDevice.ptx(CudaDevice.OPTIM_PTX), StandardCharsets.US_ASCII);
    assertThat(optim).contains(".target sm_90");
    for (String kernel : FusedOptimizer.KERNELS) {
      assertThat(optim).as("entry %s", kernel).contains(".entry " + kernel + "(");
    }
  }

  /** The hash build-ptx.sh records: each file of the folder in byte order, "file NAME\n" then its bytes. */
  static String sourceHash() throws IOException, NoSuchAlgorithmException {
    List<Path> files;
    try (Stream<Path> s = Files.list(SOURCES)) {
      files = s.filter(Files::isRegularFile).sorted().toList();
    }
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    for (Path f : files) {
      all.write(("file " + f.getFileName() + "\n").getBytes(StandardCharsets.UTF_8));
      all.write(Files.readAllBytes(f));
    }
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(all.toByteArray()));
  }
}
