#!/usr/bin/env bash
# Builds DIR (default .gpu-train in the repository root, ignored by git): a jlink Java runtime (as
# jre.tar.xz), the jars (the PTX of hiformer.cu and optim.cu inside kernels.jar) and the scripts, for
# a GPU host without Java, Maven or network. There: `bash DIR/run.sh` times the GPU trainer and the
# PyTorch baseline on the same model and batches and writes the side-by-side table into $OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/.gpu-train}" && cd "${1:-$root/.gpu-train}" && pwd)
cd "$root"
. scripts/java-home.sh
rm -rf "$out" && mkdir -p "$out/lib"
./mvnw -q -pl training -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/train-bench.cp -Dmdep.includeScope=test >/dev/null
for f in $(tr ':' ' ' < training/target/train-bench.cp); do
  case "$(basename "$f")" in
    jackson-*|jcuda-12*|snakeyaml-*|slf4j-*) cp "$f" "$out/lib/" ;;
    jcuda-natives-*)  # only the driver API's library: the others link CUDA 12 libraries the hosts lack
      tmp=$(mktemp -d) && (cd "$tmp" && unzip -q "$f" 'lib/libJCudaDriver-*' && jar cf "$out/lib/$(basename "$f")" lib) && rm -rf "$tmp" ;;
  esac
done
for m in kernels model features training; do
  jar cf "$out/lib/$m.jar" -C "$m/target/classes" .
done
jar cf "$out/lib/training-tests.jar" -C training/target/test-classes .
tmp=$(mktemp -d)
jlink --add-modules java.base,java.logging,java.management,jdk.management,jdk.unsupported,jdk.incubator.vector,java.xml,java.naming,java.sql \
  --strip-debug --no-header-files --no-man-pages --output "$tmp/jre"
tar cJf "$out/jre.tar.xz" -C "$tmp" jre && rm -rf "$tmp"
cp training/bench/run.sh training/bench/torch_train.py "$out/"
du -sh "$out"
