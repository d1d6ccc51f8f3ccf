// TL_CLONES: compile a function for two instruction sets, picked when the library loads.
#pragma once

// Clones are picked on the CPU's features: x86-64-v3 (AVX2, FMA, ...) with GCC 12+, AVX2 with
// other compilers. ("arch=haswell" would be picked on the CPU model: never on AMD processors.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define TL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TL_CLONES
#endif
