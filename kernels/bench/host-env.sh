# Sourced by run.sh and ab.sh on a GPU host, from the bundle bundle.sh built: the Java runtime, the
# classpath, and a kernel source compiled there and put ahead of the PTX the jars ship.
[ -x /tmp/jre/bin/java ] || tar xJf jre.tar.xz -C /tmp
java="/tmp/jre/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
cp=$(ls "$PWD"/lib/*.jar | grep -v console-standalone | tr '\n' ':')

# kernel_ptx DIR SRC [NVCC FLAGS..]: SRC (a hiformer.cu, prims.cuh beside it) as DIR's hiformer.ptx
kernel_ptx() {
  local dir=$1 src=$2
  shift 2
  mkdir -p "$dir/io/hiformer/kernels/cuda" &&
    nvcc -ptx -arch=compute_90 -O3 -std=c++17 "$@" -o "$dir/io/hiformer/kernels/cuda/hiformer.ptx" "$src"
}

# benchmark DIR LOG [ARGS..]: CudaBenchmark with DIR's PTX first on the classpath, output to LOG
benchmark() {
  local dir=$1 log=$2
  shift 2
  $java -Xmx16g -cp "$dir:$cp" io.hiformer.model.CudaBenchmark "$@" > "$log" 2>&1
}
