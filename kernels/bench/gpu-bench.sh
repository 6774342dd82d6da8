#!/usr/bin/env bash
# The GPU benchmark in one run: our fused kernel (CudaBenchmark, through JCuda) and then PyTorch
# eager and torch.compile (torch_baseline.py) on the same model file and the same inputs, which the
# first writes into WORK_DIR; prints the comparison table (also WORK_DIR/bench.md and bench.json).
#   kernels/bench/gpu-bench.sh WORK_DIR [256,1024,4096,16384,65536]
# In a checkout it builds with Maven and takes the classpath from it; the bundle (bundle.sh) sets
# HIFORMER_CP and JAVA instead. Needs an NVIDIA GPU of compute capability 9.0+ and python3 with
# torch and safetensors.
set -euo pipefail
work=${1:?usage: gpu-bench.sh WORK_DIR [batches]}
batches=${2:-256,1024,4096,16384,65536}
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${HIFORMER_CP:-}" ]; then
  root=$(cd "$here/../.." && pwd)
  . "$root/scripts/java-home.sh"
  (cd "$root" && ./mvnw -q -pl model -am test-compile dependency:build-classpath \
    -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test >/dev/null)
  HIFORMER_CP="$root/model/target/test-classes:$root/model/target/classes:$root/kernels/target/classes:$(cat "$root/model/target/bench.cp")"
fi
JAVA=${JAVA:-java}
mkdir -p "$work"
$JAVA --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$HIFORMER_CP" \
  io.hiformer.model.CudaBenchmark --out "$work" --batches "$batches"
if [ "${TORCH:-1}" = 1 ]; then  # TORCH=0: our kernels alone
  python3 "$here/torch_baseline.py" --dir "$work" --batches "$batches"
fi
