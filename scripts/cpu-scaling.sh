#!/usr/bin/env bash
# Runs on the GPU host (from the folder scripts/gpu-bundle builds): ForwardBenchmark, ref-serving,
# SIMD, batch 512, once per core count N, the JVM pinned to CPUs 0..N-1 (taskset) and told it has N
# (-XX:ActiveProcessorCount), the scorer on N cores; both designs of N cores (the caller scores
# tiles of its call and N - 1 workers help; or it hands every tile to N workers and waits). Then a
# table of candidates/s and the speed-up against 1 core. CORES="1 2 4 8 16" by default;
# CALLER_SCORES=true times only the design that serves; JMH="..." replaces the iteration settings
# (the defaults take about 20 s a measurement, 3.5 minutes in all). Logs, JMH's CSVs and the table
# (scaling.md) land in $OUT.
set -euo pipefail
out=$(mkdir -p "${OUT:-.}" && cd "${OUT:-.}" && pwd)
cd "$(dirname "$0")"
# the runtime and jars unpacked afresh outside the bundle (it may be read-only; never stale jars)
rt=$(mktemp -d) && trap 'rm -rf "$rt"' EXIT
tar xJf jre.tar.xz -C "$rt" && tar xJf lib.tar.xz -C "$rt"
CP=$(ls "$rt"/lib/*.jar | tr '\n' ':')
cores=${CORES:-1 2 4 8 16}
designs=${CALLER_SCORES:-true,false}
jmh=${JMH:--wi 4 -w 2 -i 5 -r 2}
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$out/cpu.txt"
for n in $cores; do
  if [ "$n" -gt "$(nproc)" ]; then
    echo "skipping $n cores: this host has $(nproc)" >&2
    continue
  fi
  echo "== $n cores (taskset -c 0-$((n - 1)))" >&2
  # JMH forks the measured JVM; the fork inherits the CPU mask
  taskset -c "0-$((n - 1))" "$rt"/jre/bin/java --add-modules jdk.incubator.vector -XX:ActiveProcessorCount="$n" \
    -cp "$CP" org.openjdk.jmh.Main ForwardBenchmark -p batch=512 -p kernels=simd -p cores="$n" \
    -p callerScores="$designs" $jmh -jvmArgsAppend "-XX:ActiveProcessorCount=$n" \
    -rf csv -rff "$out/cores-$n.csv" > "$out/cores-$n.log" 2>&1 \
    || { echo "JMH failed for $n cores; see $out/cores-$n.log" >&2; tail -20 "$out/cores-$n.log" >&2; }
done
for n in $cores; do
  [ -f "$out/cores-$n.csv" ] && cat "$out/cores-$n.csv"
done | awk -F, -v jmh="$jmh" '
  /^"Benchmark"/ { for (i = 1; i <= NF; i++) col[$i] = i; next }
  /forward:candidates/ {
    gsub(/"/, "")
    n = $col["\"Param: cores\""]; d = $col["\"Param: callerScores\""]
    score[n, d] = $5; err[n, d] = ($6 == "NaN" ? "" : sprintf(" ± %.0f", $6))
    if (!(n in seen)) { seen[n] = 1; order[++count] = n }
    designs[d] = 1
  }
  END {
    print "ForwardBenchmark, ref-serving, SIMD, batch 512, JMH " jmh ", candidates/s (± 99.9 %)"
    print ""
    header = "| cores |"; rule = "| ---: |"
    if ("true" in designs) { header = header " caller scores | speed-up |"; rule = rule " ---: | ---: |" }
    if ("false" in designs) { header = header " caller waits | speed-up |"; rule = rule " ---: | ---: |" }
    print header; print rule
    base_t = score[order[1], "true"]; base_f = score[order[1], "false"]
    for (k = 1; k <= count; k++) {
      n = order[k]; line = "| " n " |"
      if ("true" in designs) line = line sprintf(" %.0f%s | %.2fx |", score[n, "true"], err[n, "true"], score[n, "true"] / base_t)
      if ("false" in designs) line = line sprintf(" %.0f%s | %.2fx |", score[n, "false"], err[n, "false"], score[n, "false"] / base_f)
      print line
    }
    print ""
    print "speed-up: against the same design on " order[1] " core(s)"
  }' | tee "$out/scaling.md"
