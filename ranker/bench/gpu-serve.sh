#!/usr/bin/env bash
# On a GPU host, from the bundle gpu-serve-bundle.sh built: the ranker over gRPC on this host's
# loopback, first with the CPU backend (a scoring thread per core), then with the CUDA backend
# (fp32, the dynamic batcher merging concurrent calls), the same ref-serving model and the same
# closed-loop load each time (CANDIDATES per call, default 200; C users for C in CONCURRENCY,
# default "1 8 32 128"; SECONDS_RUN measured seconds a step, default 10). BACKENDS (default
# "cpu cuda") and SERVE_OPTS (more serve options, e.g. --max-queue-delay-us 0) vary the server.
# Writes OUT (default ./out): the servers' logs, one JSON per step and summary.md.
set -uo pipefail
cd "$(dirname "$0")"
here=$PWD
out=${OUT:-$here/out}
mkdir -p "$out"
tar xJf jre.tar.xz -C /tmp
rm -rf /tmp/gpu-serve-lib && mkdir -p /tmp/gpu-serve-lib && tar xJf lib.tar.xz -C /tmp/gpu-serve-lib
hf() {
  /tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${JAVA_OPTS:--XX:+UseZGC -Xmx16g} \
    -cp "/tmp/gpu-serve-lib/lib/*" io.hiformer.ops.HiformerCommand "$@" 2> >(grep -v '^WARNING' >&2)
}
k=${CANDIDATES:-200}
secs=${SECONDS_RUN:-10}
reg=/tmp/gpu-serve-registry
rm -rf "$reg"
hf models synthetic --registry "$reg" --model ref --config ref-serving --count 1
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; echo "$(nproc) CPU cores"; } | tee "$out/host.txt"
backends=${BACKENDS:-cpu cuda}
for backend in $backends; do
  log="$out/serve-$backend.log"
  hf serve --registry "$reg" --model ref --port 0 --metrics-port 0 --backend "$backend" --max-concurrent-calls 1024 \
    ${SERVE_OPTS:-} >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1200); do grep -q '^serving' "$log" && break; sleep 0.1; done
  port=$(sed -n 's/^serving .* on port \([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] || { cat "$log"; exit 1; }
  for c in ${CONCURRENCY:-1 8 32 128}; do
    hf loadtest --target "127.0.0.1:$port" --concurrency "$c" --candidates "$k" --schema-from-registry "$reg" \
      --model ref --warmup 3 --duration "$secs" --json "$out/$backend-c$c.json" | sed "s/^/[$backend c=$c] /"
  done
  kill "$pid"
  wait "$pid"
done
python3 - "$out" "$backends" ${CONCURRENCY:-1 8 32 128} <<'PY' | tee "$out/summary.md"
import json, sys
out, backends, levels = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
print("| backend | users | calls/s | candidates/s | p50 ms | p99 ms | failed | calls/s against cpu |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for b in backends:
    for c in levels:
        d = json.load(open(f"{out}/{b}-c{c}.json"))
        failed = sum(v for s, v in d["status"].items() if s != "OK") + d["dropped"]
        vs = ""
        if b != "cpu" and "cpu" in backends:
            vs = f"{d['requests_per_s'] / json.load(open(f'{out}/cpu-c{c}.json'))['requests_per_s']:.1f}x"
        print(f"| {b} | {c} | {d['requests_per_s']:,.0f} | {d['candidates_per_s']:,.0f} | {d['latency_ms']['p50']:.2f}"
              f" | {d['latency_ms']['p99']:.2f} | {failed} | {vs} |")
PY
