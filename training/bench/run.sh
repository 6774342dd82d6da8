#!/usr/bin/env bash
# On a GPU host, from the bundle bundle.sh built: writes ref-serving (initial weights) and its batches
# into $WORK (default /tmp/train-bench) after checking optim.cu on this GPU against the CPU trainer
# (check.log), times whole steps of our GPU trainer, then PyTorch's on the
# same model and batches (eager, torch.compile, CUDA graph), and writes the side-by-side table:
# $OUT/train-bench.md and .csv, with ours.json, torch.json and the logs (OUT default ./out).
# BATCHES (default 1024,4096,16384), STEPS (20 a repeat; OURS_STEPS for ours alone), REPEATS (3),
# EXAMPLES (327680) tune it;
# TORCH=0 skips PyTorch, OURS=0 our side.
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-$PWD/out}
work=${WORK:-/tmp/train-bench}
mkdir -p "$out" "$work"
[ -x /tmp/jre/bin/java ] || tar xJf jre.tar.xz -C /tmp
java="/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx32g"
cp=$(ls "$PWD"/lib/*.jar | tr '\n' ':')
batches=${BATCHES:-1024,4096,16384}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee "$out/gpu.txt"
$java -cp "$cp" io.hiformer.training.GpuTrainingBenchmark check 2>&1 | tee "$out/check.log"
$java -cp "$cp" io.hiformer.training.GpuTrainingBenchmark dump --out "$work" --examples "${EXAMPLES:-327680}" 2>&1 | tee "$out/dump.log"
if [ "${OURS:-1}" = 1 ]; then
  $java -cp "$cp" io.hiformer.training.GpuTrainingBenchmark time --dir "$work" --batches "$batches" \
    --steps "${OURS_STEPS:-${STEPS:-20}}" --repeats "${REPEATS:-3}" 2>&1 | tee "$out/ours.log"
  cp "$work/ours.json" "$out/" 2>/dev/null
fi
if [ "${TORCH:-1}" = 1 ]; then
  python3 torch_train.py --dir "$work" --batches "$batches" --steps "${STEPS:-20}" --repeats "${REPEATS:-3}" \
    2>&1 | tee "$out/torch.log"
  cp "$work/torch.json" "$work/train-bench.md" "$work/train-bench.csv" "$out/" 2>/dev/null
fi
