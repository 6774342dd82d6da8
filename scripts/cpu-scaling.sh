#!/usr/bin/env bash
# Runs on the GPU host (from the folder scripts/gpu-bundle builds): ForwardBenchmark, ref-serving,
# SIMD, batch 512, once per core count N, the JVM pinned to CPUs 0..N-1 (taskset) and told it has N
# (-XX:ActiveProcessorCount), the scorer on N cores; then a table of candidates/s and the speed-up
# against 1 core. CORES="1 2 4 8 16" by default; JMH="..." replaces the iteration settings (the
# default takes about 25 s a count). Logs, JMH's CSVs and the table (scaling.md) land in $OUT.
set -euo pipefail
cd "$(dirname "$0")"
out=${OUT:-.}
[ -d jre ] || tar xJf jre.tar.xz
[ -d lib ] || tar xJf lib.tar.xz
CP=$(ls lib/*.jar | tr '\n' ':')
cores=${CORES:-1 2 4 8 16}
jmh=${JMH:--wi 4 -w 2 -i 5 -r 2}
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$out/cpu.txt"
for n in $cores; do
  if [ "$n" -gt "$(nproc)" ]; then
    echo "skipping $n cores: this host has $(nproc)" >&2
    continue
  fi
  echo "== $n cores (taskset -c 0-$((n - 1)))" >&2
  # JMH forks the measured JVM; the fork inherits the CPU mask
  taskset -c "0-$((n - 1))" jre/bin/java --add-modules jdk.incubator.vector -XX:ActiveProcessorCount="$n" \
    -cp "$CP" org.openjdk.jmh.Main ForwardBenchmark -p batch=512 -p kernels=simd -p cores="$n" $jmh \
    -jvmArgsAppend "-XX:ActiveProcessorCount=$n" -rf csv -rff "$out/cores-$n.csv" > "$out/cores-$n.log" 2>&1 \
    || { echo "JMH failed for $n cores; see $out/cores-$n.log" >&2; tail -20 "$out/cores-$n.log" >&2; }
done
{
  echo "ForwardBenchmark, ref-serving, SIMD, batch 512, JMH $jmh"
  echo
  echo "| cores | candidates/s | ± (99.9%) | speed-up vs 1 core |"
  echo "| ---: | ---: | ---: | ---: |"
  base=""
  for n in $cores; do
    [ -f "$out/cores-$n.csv" ] || continue
    # the candidates counter's row: "…forward:candidates","thrpt",threads,samples,score,error,"ops/s",params…
    row=$(grep 'forward:candidates' "$out/cores-$n.csv" | head -n 1) || continue
    score=$(echo "$row" | awk -F, '{print $5}')
    err=$(echo "$row" | awk -F, '{print $6}')
    [ -n "$base" ] || base=$score
    awk -v n="$n" -v s="$score" -v e="$err" -v b="$base" \
      'BEGIN { printf "| %d | %.0f | %.0f | %.2fx |\n", n, s, (e == "NaN" ? 0 : e), s / b }'
  done
} | tee "$out/scaling.md"
