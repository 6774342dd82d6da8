// How many clusters of 2 to 8 blocks a GPU runs at once, for blocks shaped like the fused kernel's
// (256 threads, one block a multiprocessor, SMEM_KB of shared memory: 195 for ref-serving's 16-example
// tiles). A batch of 256 in 16-example
// tiles is 16 clusters: if fewer of 8 fit at once, 8-block clusters take a second wave.
//   nvcc -arch=sm_90 -o /tmp/cluster_probe kernels/bench/cluster_probe.cu && /tmp/cluster_probe [SMEM_KB]
#include <cstdio>
#include <cstdlib>

__global__ void __launch_bounds__(256, 1) probe(float* out) {
  extern __shared__ float smem[];
  smem[threadIdx.x] = (float) threadIdx.x;
  __syncthreads();
  if (out) out[blockIdx.x] = smem[255 - threadIdx.x];
}

int main(int argc, char** argv) {
  const int smemKb = argc > 1 ? atoi(argv[1]) : 195;
  const size_t smem = (size_t) smemKb * 1024;
  cudaDeviceProp prop;
  const cudaError_t de = cudaGetDeviceProperties(&prop, 0);
  if (de != cudaSuccess) {
    fprintf(stderr, "no GPU: %s\n", cudaGetErrorString(de));
    return 1;
  }
  cudaFuncSetAttribute(probe, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem);
  cudaFuncSetAttribute(probe, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  printf("%s: %d multiprocessors; blocks of 256 threads, %d KB shared memory\n", prop.name,
         prop.multiProcessorCount, smemKb);
  for (int cs = 1; cs <= 16; ++cs) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = cs;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.gridDim = dim3(cs * 64);
    cfg.blockDim = dim3(256);
    cfg.dynamicSmemBytes = smem;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    int clusters = 0;
    const cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, probe, &cfg);
    if (e != cudaSuccess) {
      printf("cluster of %2d: %s\n", cs, cudaGetErrorString(e));
      cudaGetLastError();
      continue;
    }
    printf("cluster of %2d: %3d at once (%3d blocks)\n", cs, clusters, clusters * cs);
  }
  return 0;
}
