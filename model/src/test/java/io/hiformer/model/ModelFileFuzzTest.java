package io.hiformer.model;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Coverage-guided fuzzing of the model-file reader with Jazzer. The only outcomes allowed are a
 * successful load or a {@link ModelFileException}; anything else thrown is a finding.
 *
 * <p>In a normal build ({@code ./mvnw -pl model -am test}) this replays the seed corpus in
 * {@code src/test/resources/io/hiformer/model/ModelFileFuzzTestInputs/modelFileReader} (the golden
 * weight and expected files, plus any crash inputs saved there). To fuzz for real, from the
 * repository root:
 *
 * <pre>
 * JAZZER_FUZZ=1 ./mvnw -pl model -am test -Dtest=ModelFileFuzzTest -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Djazzer.instrument='io.hiformer.**,com.fasterxml.jackson.core.**' -Djazzer.max_duration=10m
 * </pre>
 *
 * <p>Without {@code -Djazzer.max_duration} it runs for the {@code maxDuration} below (20 s).
 * Instrumenting Jackson as well lets coverage guide the fuzzer through the JSON header. The growing
 * corpus is kept in
 * {@code model/.cifuzz-corpus/} (ignored by git); a crashing input is written next to the seeds,
 * where it then fails every normal build until fixed. {@link ModelFileMutationTest} is the
 * deterministic, always-on companion with structure-aware mutations.
 */
class ModelFileFuzzTest {

  @FuzzTest(maxDuration = "20s")
  void modelFileReader(byte[] input) {
    SafeTensors file;
    try {
      file = SafeTensors.parse(input);
    } catch (ModelFileException rejected) {
      return;
    }
    for (SafeTensors.Tensor t : file.tensors()) {
      try {
        switch (t.dtype()) {
          case F32, F64 -> t.doubles();
          case I32, I64 -> t.ints();
        }
      } catch (ModelFileException rejected) {
        // I64 values outside the int range
      }
    }
    try {
      ModelFile.load(input);
    } catch (ModelFileException rejected) {
      // the documented rejection
    }
  }
}
