#!/usr/bin/env bash
# Runs on the GPU host: the model's JMH forward benchmark pinned to 2 CPU cores.
set -u
cd "$(dirname "$0")"   # the .gpu folder
lscpu | grep -E "Model name|^CPU\(s\)|Thread|Flags" | sed 's/Flags:.*avx512f.*/Flags: ... avx512f .../' 
nproc
CP=$(ls lib/*.jar | tr '\n' ':')
taskset -c 0,1 jre/bin/java --add-modules jdk.incubator.vector -XX:ActiveProcessorCount=2 -cp "$CP" org.openjdk.jmh.Main \
  ForwardBenchmark -p batch=1,64,512 -p kernels=simd,scalar -p threads=1,2 -wi 2 -i 3 -w 2 -r 2 \
  -jvmArgsAppend "-XX:ActiveProcessorCount=2" -rf json -rff "$OUT/forward.json" 2>&1 | tee "$OUT/forward.log" | grep -E "^Forward|Error|error"
