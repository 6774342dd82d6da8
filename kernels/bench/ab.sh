#!/usr/bin/env bash
# On a GPU host, from the bundle bundle.sh built: times kernel sources against each other. Each
# argument is a folder holding a hiformer.cu and prims.cuh (the bundle's cuda/ is the kernel the jars
# ship); each is compiled there with nvcc, put first on the classpath and benchmarked (CudaBenchmark,
# every variant, both precisions) in alternation, ROUNDS times (default 2), so drift in the GPU's
# state falls on all of them alike. Prints the chosen variant's time per batch and precision;
# logs go to $OUT (default ./out). BATCHES (default 256,1024,16384), MILLIS (default 100).
#   bash .gpu/ab.sh .gpu/cuda /tmp/candidate
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-$PWD/out}
mkdir -p "$out"
[ -x /tmp/jre/bin/java ] || tar xJf jre.tar.xz -C /tmp
java="/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
cp=$(ls "$PWD"/lib/*.jar | grep -v console-standalone | tr '\n' ':')
rm -rf /tmp/ab
names=()
for src in "$@"; do
  name=$(basename "$src")
  [ -d "/tmp/ab/$name" ] && name="$name-${#names[@]}"
  names+=("$name")
  mkdir -p "/tmp/ab/$name/io/hiformer/kernels/cuda"
  (cd "$src" && nvcc -ptx -arch=compute_90 -O3 -std=c++17 \
    -o "/tmp/ab/$name/io/hiformer/kernels/cuda/hiformer.ptx" hiformer.cu) || exit 1
done
for round in $(seq 1 "${ROUNDS:-2}"); do
  for name in "${names[@]}"; do
    log="$out/ab-$name-$round.log"
    $java -Xmx16g -cp "/tmp/ab/$name:$cp" io.hiformer.model.CudaBenchmark --out /tmp/ab-out \
      --batches "${BATCHES:-256,1024,16384}" --millis "${MILLIS:-100}" > "$log" 2>&1
    echo "$name round $round: $(grep -E ' \* ' "$log" | awk '{printf "%s %s %s ms, ", $2, $4, $6}')"
  done
done
