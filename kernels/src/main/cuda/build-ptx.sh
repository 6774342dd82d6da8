#!/usr/bin/env bash
# Regenerates the PTX resource from the CUDA sources in this folder when they changed (their hash,
# this script included, differs from the one recorded beside the PTX) and nvcc is on the PATH.
# Run by the kernels module's build (generate-resources); PtxFreshnessTest checks the same hash, so
# a stale committed PTX fails the tests wherever nvcc is missing.
set -euo pipefail
cd "$(dirname "$0")"
out=../resources/io/hiformer/kernels/cuda
hash=$(for f in $(LC_ALL=C ls); do printf 'file %s\n' "$f"; cat "$f"; done | sha256sum | cut -d' ' -f1)
if [ -f "$out/hiformer.ptx.sha256" ] && [ "$(cat "$out/hiformer.ptx.sha256")" = "$hash" ]; then
  exit 0
fi
if ! command -v nvcc >/dev/null 2>&1; then
  echo "build-ptx: the CUDA sources changed but nvcc is not on the PATH; the committed PTX is stale" >&2
  exit 0
fi
mkdir -p "$out"
# compute_90: Hopper and newer; the driver compiles the PTX for the GPU it finds (mma.sync, clusters)
nvcc -ptx -arch=compute_90 -O3 -std=c++17 -o "$out/hiformer.ptx" hiformer.cu
# the optimiser of a training step (FusedOptimizer.java): a module of its own
nvcc -ptx -arch=compute_90 -O3 -std=c++17 -o "$out/optim.ptx" optim.cu
echo "$hash" > "$out/hiformer.ptx.sha256"
echo "build-ptx: regenerated $out/hiformer.ptx and $out/optim.ptx"
