// Which instruction set the vector clones of vec.cpp run with on this CPU (vec::simd_level).
// Compiled with floating-point contraction on, unlike the rest of the library: the probe's
// a * b + c becomes one fused multiply-add exactly in the x86-64-v3 clone.
#include "clones.h"
#include "vec.h"

// (setup.py builds with -ffp-contract=off: this file's functions fuse again, as the probe needs)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#elif defined(__clang__)
#pragma clang fp contract(fast)
#endif

namespace torchlops {
namespace vec {

// a * b + c: contracted to one fused multiply-add in the x86-64-v3 clone (one rounding), two
// roundings in the baseline clone, so its result tells which clone the resolver picked
TL_CLONES double fma_probe(double a, double b, double c) { return a * b + c; }

const char* simd_level() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
  // (1 + 2^-27)(1 - 2^-27) - 1 = -2^-54 exactly; rounded after the product it is 0
  volatile double e = 1.0 / 134217728.0;
  return fma_probe(1.0 + e, 1.0 - e, -1.0) != 0.0 ? "x86-64-v3" : "baseline";
#elif defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? "avx2" : "baseline";  // the resolver's own test
#else
  return "baseline";
#endif
}

}  // namespace vec
}  // namespace torchlops
