// Host/device qualifier of the index math shared by the CPU and CUDA kernels (no ATen: the
// headers that use only this one also compile in plain C++).
#pragma once

#if defined(__CUDACC__)
#define TL_HD __host__ __device__ __forceinline__
#else
#define TL_HD inline
#endif
