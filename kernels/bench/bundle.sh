#!/usr/bin/env bash
# Builds DIR (default .gpu in the repository root): a jlink Java runtime (as jre.tar.xz), the jars,
# the GPU tests and the benchmark, for a GPU host without Java or Maven. There: `bash DIR/run.sh`
# runs CudaScorerTest and gpu-bench.sh, writing logs and tables into $OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/.gpu}" && cd "${1:-$root/.gpu}" && pwd)
cd "$root"
. scripts/java-home.sh
rm -rf "$out" && mkdir -p "$out/lib" "$out/bench"
./mvnw -q -pl model -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test >/dev/null
./mvnw -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:6.1.3 \
  -DoutputDirectory="$out/lib" >/dev/null
for f in $(tr ':' ' ' < model/target/bench.cp); do
  case "$(basename "$f")" in
    jackson-*|assertj-*|byte-buddy-*|jcuda-12*) cp "$f" "$out/lib/" ;;
    jcuda-natives-*)  # only the driver API's library: the others link CUDA 12 libraries the hosts lack
      tmp=$(mktemp -d) && (cd "$tmp" && unzip -q "$f" 'lib/libJCudaDriver-*' && jar cf "$out/lib/$(basename "$f")" lib) && rm -rf "$tmp" ;;
  esac
done
jar cf "$out/lib/kernels.jar" -C kernels/target/classes .
jar cf "$out/lib/model.jar" -C model/target/classes .
jar cf "$out/lib/model-tests.jar" -C model/target/test-classes .
tmp=$(mktemp -d)
jlink --add-modules java.base,java.logging,java.management,jdk.management,jdk.unsupported,jdk.incubator.vector,java.xml,java.naming,java.sql \
  --strip-debug --no-header-files --no-man-pages --output "$tmp/jre"
tar cJf "$out/jre.tar.xz" -C "$tmp" jre && rm -rf "$tmp"
cp kernels/bench/gpu-bench.sh kernels/bench/torch_baseline.py kernels/bench/trace_summary.py \
  kernels/bench/cluster_probe.cu "$out/bench/"
cp kernels/bench/run.sh kernels/bench/ab.sh kernels/bench/host-env.sh "$out/"
mkdir -p "$out/cuda" && cp kernels/src/main/cuda/*.cu kernels/src/main/cuda/*.cuh "$out/cuda/"
du -sh "$out"
