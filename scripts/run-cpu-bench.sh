#!/usr/bin/env bash
# Runs on the GPU host (from the .gpu folder built by scripts/gpu-bundle): the model's JMH forward
# benchmark pinned to 2 CPU cores. Extra arguments go to JMH; results land in $OUT.
set -u
OUT=$(mkdir -p "${OUT:-.}" && cd "${OUT:-.}" && pwd)
cd "$(dirname "$0")"
# the runtime and jars unpacked afresh outside the bundle (it may be read-only; never stale jars)
rt=$(mktemp -d) && trap 'rm -rf "$rt"' EXIT
tar xJf jre.tar.xz -C "$rt" && tar xJf lib.tar.xz -C "$rt"
lscpu | grep -E "Model name|^CPU\(s\)"
CP=$(ls "$rt"/lib/*.jar | tr '\n' ':')
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(-p batch=1,64,512 -p kernels=simd,scalar -p cores=1,2 -wi 2 -i 3 -w 2 -r 2)
taskset -c 0,1 "$rt"/jre/bin/java --add-modules jdk.incubator.vector -XX:ActiveProcessorCount=2 -cp "$CP" org.openjdk.jmh.Main \
  ForwardBenchmark "${args[@]}" -jvmArgsAppend "-XX:ActiveProcessorCount=2" \
  -rf json -rff "${OUT:-.}/forward.json" 2>&1 | tee "${OUT:-.}/forward.log" | grep -E "^Forward|Error|error"
