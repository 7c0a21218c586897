#!/bin/sh
# Plain-C LayerNorm against memcpy, out of cache, at three instruction-set levels
# (x86-64-v2: 128-bit SSE like cranelift's F32X4; x86-64-v3: AVX2; native: AVX-512 here).
# Usage: scripts/c_norm_baseline.sh [SIZE_MIB (128)] [REPS (5)]
# Needs a C compiler (cc). See scripts/c_norm_baseline.c for what each column is.
set -eu
size=${1:-128}
reps=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for march in x86-64-v2 x86-64-v3 native; do
    cc -O3 -ffast-math -march="$march" -o "$out/c_norm_$march" "$here/c_norm_baseline.c" -lm
    "$out/c_norm_$march" "$march" "$size" "$reps" 64 384 768 1024 2048 4096
done
