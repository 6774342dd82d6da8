#!/usr/bin/env bash
# On a GPU host, from the bundle bundle.sh built: the GPU tests, then the benchmark. Results (logs,
# tables, JSON) go to $OUT (default ./out); the benchmark's model and inputs stay in /tmp.
# TESTS=0 skips the tests, BENCH=0 the benchmark, TORCH=0 the PyTorch baseline; PROFILE=1 adds Nsight Compute on one launch
# of PROFILE_KERNEL (a regex) at batch PROFILE_BATCH, with warm caches (flushed, the weights would
# come from DRAM, which serving never sees); SASS=1 writes the machine code of the kernels
# named in SASS_KERNELS (compiled there with nvcc, disassembled with cuobjdump); TIMING=1 times the
# phases of one block (TIMING_BLOCK, default 0) of every variant at TIMING_BATCHES, with the kernel
# compiled there with -DHF_TIMING (hiformer.cu) and put first on the classpath; TRACE=1 records every
# block of every variant at 4,096 and TRACE_BATCH (default 16,384) in a -DHF_TRACE build (its SM,
# wall time and SM clocks), summarised by bench/trace_summary.py into trace.txt.
# PROBE=1 prints how many clusters of 1 to 16 blocks the GPU runs at once (cluster-probe.txt).
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-$PWD/out}
mkdir -p "$out"
. ./host-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee "$out/gpu.txt"
if [ "${TESTS:-1}" = 1 ]; then
  $java -Xmx16g -jar lib/junit-platform-console-standalone-*.jar execute -cp "$cp" --disable-ansi-colors \
    --select-class io.hiformer.model.CudaScorerTest --details=tree --disable-banner 2>&1 | tee "$out/tests.log"
fi
if [ "${BENCH:-1}" = 1 ]; then
  HIFORMER_CP="$cp" JAVA="$java" bash bench/gpu-bench.sh /tmp/bench "${BATCHES:-256,1024,4096,16384,65536}" 2>&1 | tee "$out/bench.log"
  cp /tmp/bench/ours.json /tmp/bench/bench.md /tmp/bench/bench.json "$out/" 2>/dev/null
fi
if [ "${PROFILE:-0}" = 1 ]; then
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  timeout 300 "$ncu" --clock-control none --cache-control none --target-processes all -k "regex:${PROFILE_KERNEL:-hiformer_e32_w32_c1_p3_b1}" -s 3 -c 1 \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy \
    --section MemoryWorkloadAnalysis --section LaunchStats --section InstructionStats \
    $java -Xmx16g -cp "$cp" io.hiformer.model.CudaBenchmark --out /tmp/prof --batches "${PROFILE_BATCH:-16384}" --millis 1 \
    > "$out/ncu.txt" 2>&1
  tail -5 "$out/ncu.txt"
  if [ "${PROFILE_SOURCE:-0}" = 1 ]; then  # executed instructions and stall samples per SASS instruction
    timeout 300 "$ncu" --clock-control none --cache-control none --target-processes all -k "regex:${PROFILE_KERNEL:-hiformer_e32_w32_c1_p3_b1}" -s 3 -c 1 \
      --section SourceCounters --section WarpStateStats --import-source no -o /tmp/prof-src \
      $java -Xmx16g -cp "$cp" io.hiformer.model.CudaBenchmark --out /tmp/prof --batches "${PROFILE_BATCH:-16384}" --millis 1 >/dev/null 2>&1
    "$ncu" -i /tmp/prof-src.ncu-rep --page source --print-source sass --csv > "$out/ncu-source.csv" 2>&1
    wc -c "$out/ncu-source.csv"
  fi
fi
if [ "${TIMING:-0}" = 1 ]; then
  kernel_ptx /tmp/timing cuda/hiformer.cu -DHF_TIMING="${TIMING_BLOCK:-0}"
  benchmark /tmp/timing "$out/timing.log" --out /tmp/timing-out --batches "${TIMING_BATCHES:-256,16384}" --millis 1
  grep '^timing' "$out/timing.log" > "$out/timing.txt"
  wc -l "$out/timing.txt"
fi
if [ "${TRACE:-0}" = 1 ]; then
  kernel_ptx /tmp/trace cuda/hiformer.cu -DHF_TRACE
  benchmark /tmp/trace "$out/trace.log" --out /tmp/trace-out --batches "4096,${TRACE_BATCH:-16384}" --millis 1
  python3 bench/trace_summary.py "$out/trace.log" | tee "$out/trace.txt"
fi
if [ "${PROBE:-0}" = 1 ]; then  # how many clusters of each size run at once (bench/cluster_probe.cu)
  nvcc -arch=sm_90 -o /tmp/cluster_probe bench/cluster_probe.cu && /tmp/cluster_probe | tee "$out/cluster-probe.txt"
fi
if [ "${SASS:-0}" = 1 ]; then
  nvcc -cubin -arch=sm_90 -O3 -std=c++17 -o /tmp/hf.cubin cuda/hiformer.cu
  for k in ${SASS_KERNELS:-hiformer_e32_w32_c1_p3_b1}; do cuobjdump -sass -fun "$k" /tmp/hf.cubin > "$out/sass-$k.txt"; done
fi
