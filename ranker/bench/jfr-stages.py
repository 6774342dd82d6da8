#!/usr/bin/env python3
"""Where a ranker's CPU time goes, per stage, from JFR recordings (ranker/README.md, "Where the host's time goes").

Usage: python3 ranker/bench/jfr-stages.py FILE.jfr...   (needs the JDK's jfr tool on the PATH)
Record with HIFORMER_JAVA_OPTS=-XX:StartFlightRecording=filename=FILE.jfr,settings=profile. Each execution
sample of a serving or load generator thread goes to the first stage below with a frame on its stack; the
model's loading and checking (main, registry and reader threads) is left out. Prints one Markdown row per
stage: its share of the samples and its three most sampled top frames.
"""
import json, subprocess, sys, collections
# Per-stage share of JFR execution samples: each sample goes to the first stage (in this order)
# that has a frame on its stack.
STAGES = [
  ("scoring", ("io.hiformer.model.CpuScorer", "io.hiformer.model.Forward", "io.hiformer.model.Hiformer", "jdk.incubator.vector", "io.hiformer.kernels", "io.hiformer.model.Cuda")),
  ("rank log", ("io.hiformer.features.ranklog", "io.hiformer.ranker.RankLog", "org.apache.kafka")),
  ("batch building", ("io.hiformer.model.Batch.",)),
  ("featurising", ("io.hiformer.features.Featurizer", "io.hiformer.ranker.RequestRows", "io.hiformer.features.", "io.hiformer.ranker.ItemRowCache")),
  ("protobuf parse", ("com.google.protobuf.CodedInputStream", "parseFrom", "com.google.protobuf.AbstractParser", "io.grpc.protobuf.lite.ProtoLiteUtils$MessageMarshaller.parse")),
  ("response", ("io.hiformer.ranker.RankService", "io.hiformer.proto.RankResponse", "io.hiformer.proto.ScoredCandidate", "com.google.protobuf.CodedOutputStream")),
  ("gRPC/Netty transport", ("io.grpc", "io.netty")),
  ("load generator", ("io.hiformer.ops.loadtest",)),
]
THREADS = ("hiformer-loadtest", "grpc-", "hiformer-score", "hiformer-rank", "ForkJoinPool")
counts = collections.Counter()
top = collections.defaultdict(collections.Counter)
for f in sys.argv[1:]:
    out = subprocess.run(["jfr", "print", "--json", "--stack-depth", "64", "--events", "jdk.ExecutionSample", f],
                         capture_output=True, text=True, check=True).stdout
    for e in json.loads(out)["recording"]["events"]:
        thread = e["values"]["sampledThread"]["javaName"] or ""
        if thread == "main" or thread.startswith("JFR") or "registry" in thread or "poll" in thread or "reader" in thread:
            continue  # start-up (model load and check) and JFR's own threads
        frames = [fr["method"]["type"]["name"].replace("/", ".") + "." + fr["method"]["name"] for fr in e["values"]["stackTrace"]["frames"]]
        stage = "other"
        for name, keys in STAGES:
            if name == "load generator" and thread.startswith("hiformer-loadtest"):
                continue
            if any(k in fr for fr in frames for k in keys):
                stage = name
                break
        counts[stage] += 1
        top[stage][frames[0] if frames else "?"] += 1
total = sum(counts.values())
print(f"{total} samples")
for s, n in counts.most_common():
    print(f"| {s} | {100*n/total:.1f}% | " + ", ".join(f"{m.split('.')[-2]}.{m.split('.')[-1]} {c}" for m, c in top[s].most_common(3)) + " |")
