#!/usr/bin/env bash
# On a GPU host, from the bundle gpu-serve-bundle.sh built: the ranker over gRPC on this host's
# loopback, first with the CPU backend (a scoring thread per core), then with the CUDA backend
# (fp32, the dynamic batcher merging concurrent calls), the same ref-serving model and the same
# closed-loop load each time (CANDIDATES per call, default 200; C users for C in CONCURRENCY,
# default "1 8 32 128"; SECONDS_RUN measured seconds a step, default 10). BACKENDS (default
# "cpu cuda") and SERVE_OPTS (more serve options, e.g. --max-queue-delay-us 0) vary the server.
# With baseline.tar.xz in the bundle (gpu-serve-bundle.sh with BASELINE=DIR), each backend is also
# served by the baseline's jars, right after this tree's, under the same load generator (this tree's):
# the summary then gives new against baseline. SERVER_CPUS=LIST and LOADGEN_CPUS=LIST pin the server
# and the load generator to those CPUs with taskset (e.g. 0-1 and 2-15), so that the load generator
# does not take the server's cores.
# Writes OUT (default ./out): the servers' logs, one JSON per step and summary.md; unpacks into WORK
# (default /tmp).
set -uo pipefail
cd "$(dirname "$0")"
here=$PWD
out=${OUT:-$here/out}
mkdir -p "$out"
work=${WORK:-/tmp}
mkdir -p "$work"
tar xJf jre.tar.xz -C "$work"
rm -rf $work/gpu-serve-lib && mkdir -p $work/gpu-serve-lib && tar xJf lib.tar.xz -C $work/gpu-serve-lib
versions=new
if [ -f baseline.tar.xz ]; then
  # the baseline: the same third-party jars, the baseline's own
  rm -rf $work/gpu-serve-lib-baseline && mkdir -p $work/gpu-serve-lib-baseline/lib
  cp $work/gpu-serve-lib/lib/*.jar $work/gpu-serve-lib-baseline/lib/ && rm $work/gpu-serve-lib-baseline/lib/hiformer-*.jar
  tar xJf baseline.tar.xz -C $work/gpu-serve-lib-baseline && mv $work/gpu-serve-lib-baseline/baseline/*.jar $work/gpu-serve-lib-baseline/lib/
  versions="new baseline"
fi
server_pin=()
loadgen_pin=()
if [ -n "${SERVER_CPUS:-}" ]; then server_pin=(taskset -c "$SERVER_CPUS"); fi
if [ -n "${LOADGEN_CPUS:-}" ]; then loadgen_pin=(taskset -c "$LOADGEN_CPUS"); fi
hf() {
  $work/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${JAVA_OPTS:--XX:+UseZGC -Xmx16g} \
    -cp "$work/gpu-serve-lib/lib/*" io.hiformer.ops.HiformerCommand "$@" 2> >(grep -v '^WARNING' >&2)
}
k=${CANDIDATES:-200}
secs=${SECONDS_RUN:-10}
reg=$work/gpu-serve-registry
rm -rf "$reg"
hf models synthetic --registry "$reg" --model ref --config ref-serving --count 1
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; echo "$(nproc) CPU cores"; } | tee "$out/host.txt"
backends=${BACKENDS:-cpu cuda}
for version in $versions; do
lib=$work/gpu-serve-lib/lib
prefix=
if [ "$version" = baseline ]; then lib=$work/gpu-serve-lib-baseline/lib; prefix=baseline-; fi
for backend in $backends; do
  log="$out/${prefix}serve-$backend.log"
  "${server_pin[@]}" $work/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    ${JAVA_OPTS:--XX:+UseZGC -Xmx16g} -cp "$lib/*" io.hiformer.ops.HiformerCommand serve --registry "$reg" --model ref --port 0 --metrics-port 0 --backend "$backend" --max-concurrent-calls 1024 \
    ${SERVE_OPTS:-} >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1200); do grep -q '^serving' "$log" && break; sleep 0.1; done
  port=$(sed -n 's/^serving .* on port \([0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] || { cat "$log"; exit 1; }
  for c in ${CONCURRENCY:-1 8 32 128}; do
    "${loadgen_pin[@]}" $work/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      ${JAVA_OPTS:--XX:+UseZGC -Xmx16g} -cp "$work/gpu-serve-lib/lib/*" io.hiformer.ops.HiformerCommand \
      loadtest --target "127.0.0.1:$port" --concurrency "$c" --candidates "$k" --schema-from-registry "$reg" \
      --model ref --warmup 3 --duration "$secs" --json "$out/$prefix$backend-c$c.json" 2> >(grep -v '^WARNING' >&2) \
      | sed "s/^/[$version $backend c=$c] /"
  done
  kill "$pid"
  wait "$pid"
done
done
python3 - "$out" "$backends" "$versions" ${CONCURRENCY:-1 8 32 128} <<'PY' | tee "$out/summary.md"
import json, sys
out, backends, versions, levels = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4:]
def load(version, b, c):
    return json.load(open(f"{out}/{'baseline-' if version == 'baseline' else ''}{b}-c{c}.json"))
print("| code | backend | users | calls/s | candidates/s | p50 ms | p99 ms | failed | calls/s against cpu | against baseline |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for v in versions:
    for b in backends:
        for c in levels:
            d = load(v, b, c)
            failed = sum(n for s, n in d["status"].items() if s != "OK") + d["dropped"]
            vs = ""
            if b != "cpu" and "cpu" in backends:
                vs = f"{d['requests_per_s'] / load(v, 'cpu', c)['requests_per_s']:.1f}x"
            vb = ""
            if v == "new" and "baseline" in versions:
                vb = f"{d['requests_per_s'] / load('baseline', b, c)['requests_per_s']:.2f}x"
            print(f"| {v} | {b} | {c} | {d['requests_per_s']:,.0f} | {d['candidates_per_s']:,.0f} | {d['latency_ms']['p50']:.2f}"
                  f" | {d['latency_ms']['p99']:.2f} | {failed} | {vs} | {vb} |")
PY
