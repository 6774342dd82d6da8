#!/usr/bin/env bash
# On a GPU host, from the bundle bundle.sh built: times kernel sources against each other. Each
# argument is a folder holding a hiformer.cu and prims.cuh (the bundle's cuda/ is the kernel the jars
# ship); each is compiled there with nvcc, put first on the classpath and benchmarked (CudaBenchmark,
# every variant, both precisions) in alternation, ROUNDS times (default 2), so drift in the GPU's
# state falls on all of them alike. Prints the chosen variant's time per batch and precision;
# logs go to $OUT (default ./out). BATCHES (default 256,1024,16384), MILLIS (default 100).
#   bash .gpu/ab.sh .gpu/cuda /tmp/candidate
set -uo pipefail
srcs=()
for src in "$@"; do srcs+=("$(cd "$src" && pwd)"); done
cd "$(dirname "$0")"
out=${OUT:-$PWD/out}
mkdir -p "$out"
. ./host-env.sh
rm -rf /tmp/ab
names=()
for src in "${srcs[@]}"; do
  name=$(basename "$src")
  [ -d "/tmp/ab/$name" ] && name="$name-${#names[@]}"
  names+=("$name")
  kernel_ptx "/tmp/ab/$name" "$src/hiformer.cu" || exit 1
done
for round in $(seq 1 "${ROUNDS:-2}"); do
  for name in "${names[@]}"; do
    log="$out/ab-$name-$round.log"
    benchmark "/tmp/ab/$name" "$log" --out /tmp/ab-out --batches "${BATCHES:-256,1024,16384}" --millis "${MILLIS:-100}"
    echo "$name round $round: $(grep -E ' \* ' "$log" | awk '{printf "%s %s %s ms, ", $2, $4, $6}')"
  done
done
