#!/usr/bin/env bash
# Runs on the GPU host (from the folder scripts/feed-bundle builds): InputPipelineBenchmark, the
# ref-serving cache (ROWS synthetic rows, default 4,000,000), batch 4,096, once per core count N,
# the JVM pinned to CPUs 0..N-1 (taskset) and told it has N (-XX:ActiveProcessorCount): the feed on
# N threads (fromCache, with -prof gc: bytes allocated per batch) beside a CPU training step on N
# threads from the same feed (trainerStep). Then a table of examples/s and the speed-up against 1
# core. CORES="1 2 4 8 16" by default; JMH="..." replaces the iteration settings. Logs, JMH's CSVs
# and the table (feed.md) land in $OUT.
set -euo pipefail
out=$(mkdir -p "${OUT:-.}" && cd "${OUT:-.}" && pwd)
cd "$(dirname "$0")"
# the runtime and jars unpacked afresh outside the bundle (it may be read-only; never stale jars)
rt=$(mktemp -d) && trap 'rm -rf "$rt"' EXIT
tar xJf jre.tar.xz -C "$rt" && tar xJf lib.tar.xz -C "$rt"
CP=$(ls "$rt"/lib/*.jar | tr '\n' ':')
cores=${CORES:-1 2 4 8 16}
rows=${ROWS:-4000000}
jmh=${JMH:--wi 2 -w 4 -i 3 -r 4}
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$out/cpu.txt"
for n in $cores; do
  if [ "$n" -gt "$(nproc)" ]; then
    echo "skipping $n cores: this host has $(nproc)" >&2
    continue
  fi
  echo "== $n cores (taskset -c 0-$((n - 1)))" >&2
  # JMH forks the measured JVM; the fork inherits the CPU mask. The cache is written to java.io.tmpdir.
  taskset -c "0-$((n - 1))" "$rt"/jre/bin/java --add-modules jdk.incubator.vector -XX:ActiveProcessorCount="$n" \
    -cp "$CP" org.openjdk.jmh.Main 'InputPipelineBenchmark\.(fromCache|trainerStep)' -p shape=ref-serving \
    -p batch=4096 -p threads="$n" -p rows="$rows" $jmh -prof gc -jvmArgsAppend "-XX:ActiveProcessorCount=$n" \
    -rf csv -rff "$out/cores-$n.csv" > "$out/cores-$n.log" 2>&1 \
    || { echo "JMH failed for $n cores; see $out/cores-$n.log" >&2; tail -20 "$out/cores-$n.log" >&2; }
done
for n in $cores; do
  [ -f "$out/cores-$n.csv" ] && cat "$out/cores-$n.csv"
done | awk -F, -v jmh="$jmh" -v rows="$rows" '
  { sub(/\r$/, "") }  # JMH writes CRLF
  /^"Benchmark"/ { for (i = 1; i <= NF; i++) col[$i] = i; next }
  {
    gsub(/"/, "")
    n = $col["\"Param: threads\""]
    if (!(n in seen)) { seen[n] = 1; order[++count] = n }
  }
  $1 ~ /fromCache:examples$/ { feed[n] = $5; ferr[n] = ($6 == "NaN" ? "" : sprintf(" ± %.0f", $6)) }
  $1 ~ /trainerStep:examples$/ { step[n] = $5; serr[n] = ($6 == "NaN" ? "" : sprintf(" ± %.0f", $6)) }
  $1 ~ /fromCache:gc.alloc.rate.norm$/ { alloc[n] = $5 }
  END {
    print "InputPipelineBenchmark, ref-serving cache of " rows " rows, batch 4,096, JMH " jmh ", examples/s (± 99.9 %)"
    print ""
    print "| cores = feed threads | fromCache | speed-up | bytes allocated per batch | trainerStep (CPU, same cores) |"
    print "| ---: | ---: | ---: | ---: | ---: |"
    for (k = 1; k <= count; k++) {
      n = order[k]
      printf "| %s | %.0f%s | %.2fx | %.0f | %.0f%s |\n", n, feed[n], ferr[n], feed[n] / feed[order[1]], alloc[n], step[n], serr[n]
    }
  }' | tee "$out/feed.md"
