#!/usr/bin/env bash
# Builds DIR (default .gpu-serve in the repository root) for gpu-serve.sh on a GPU host without
# Java: a jlink runtime (jre.tar.xz) and the serving jars (lib.tar.xz, ref-serving inside). The jars
# are the distribution's less what serving without Kafka never loads (Kafka's broker, Streams'
# RocksDB, Scala, compression codecs), and JCuda's natives less the libraries that link CUDA 12
# runtimes; packed with xz, about 55 MB: with the working tree, within the device tool's 64 MiB
# carry limit (unpacked they were not). Build first: ./mvnw -q package -DskipTests
# BASELINE=DIR (optional): another checkout of this project, built the same way (e.g. the commit
# before a change); its hiformer-*.jar files go into baseline.tar.xz (under 1 MB), and gpu-serve.sh
# then serves with those jars too, side by side with this tree's, on the same host in the same run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/.gpu-serve}" && cd "${1:-$root/.gpu-serve}" && pwd)
cd "$root"
. scripts/java-home.sh
[ -d ops/target/lib ] || { echo "build first: ./mvnw -q package -DskipTests" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out/lib"
for f in ops/target/lib/*.jar; do
  b=$(basename "$f")
  case "$b" in
    rocksdbjni-*|scala-*|kafka_2.13-*|kafka-server*|kafka-raft-*|kafka-metadata-*|kafka-storage*|kafka-*coordinator*|\
    kafka-tools-api-*|log4j-core-*|zstd-jni-*|snappy-java-*|metrics-core-*|argparse4j-*|jose4j-*|jopt-simple-*|\
    commons-*|pcollections-*|lz4-java-*|hiformer-kafka-local-*) ;;
    jcuda-natives-*)  # only the driver API's library, as kernels/bench/bundle.sh does
      tmp=$(mktemp -d) && (cd "$tmp" && unzip -q "$root/$f" 'lib/libJCudaDriver-*' && jar cf "$out/lib/$b" lib) && rm -rf "$tmp" ;;
    *) cp "$f" "$out/lib/" ;;
  esac
done
cp "$(ls ops/target/hiformer-ops-*.jar | grep -v -- '-tests.jar' | head -n 1)" "$out/lib/"
tmp=$(mktemp -d)
# the modules serving and the load generator use (the container's list less desktop, RMI, scripting)
jlink --add-modules java.base,java.logging,java.management,jdk.management,jdk.unsupported,jdk.incubator.vector,\
java.naming,java.net.http,jdk.httpserver,java.security.jgss,java.security.sasl,jdk.crypto.ec,java.xml,java.sql,jdk.jfr \
  --strip-debug --no-header-files --no-man-pages --output "$tmp/jre"
tar cJf "$out/jre.tar.xz" -C "$tmp" jre && rm -rf "$tmp"
tar cJf "$out/lib.tar.xz" -C "$out" lib && rm -rf "$out/lib"
if [ -n "${BASELINE:-}" ]; then
  [ -d "$BASELINE/ops/target/lib" ] || { echo "build the baseline first: (cd $BASELINE && ./mvnw -q package -DskipTests)" >&2; exit 1; }
  mkdir -p "$out/baseline"
  cp "$BASELINE"/ops/target/lib/hiformer-*.jar "$out/baseline/"
  cp "$(ls "$BASELINE"/ops/target/hiformer-ops-*.jar | grep -v -- '-tests.jar' | head -n 1)" "$out/baseline/"
  rm -f "$out"/baseline/hiformer-kafka-local-*
  tar cJf "$out/baseline.tar.xz" -C "$out" baseline && rm -rf "$out/baseline"
fi
cp ranker/bench/gpu-serve.sh "$out/"
du -sh "$out"
