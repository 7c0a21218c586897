#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/<target>/) from the repository's fixtures:
#   import, pipeline: every fixtures/*/*/model.onnx plus the test-data tensors (.pb);
#   interp, jit: a few fixed byte strings (the target builds graphs from bytes, not ONNX).
# Idempotent: existing corpus files are kept, seeds are (re)written under stable names.
set -euo pipefail
cd "$(dirname "$0")"
for t in import pipeline interp jit; do mkdir -p "corpus/$t"; done
n=0
for m in ../fixtures/*/*/model.onnx; do
  name=$(echo "$m" | sed 's#^\.\./fixtures/##; s#/model\.onnx$##; s#/#__#g')
  cp "$m" "corpus/import/seed_$name.onnx"
  cp "$m" "corpus/pipeline/seed_$name.onnx"
  n=$((n + 1))
done
for p in ../fixtures/*/*/test_data_set_0/*.pb; do
  [ -e "$p" ] || continue
  name=$(echo "$p" | sed 's#^\.\./fixtures/##; s#/#__#g')
  cp "$p" "corpus/import/seed_$name"
done
i=0
for s in 000102030405060708090a0b0c0d0e0f 0700ff3c1122334455 0203041001020304050607 \
         ffffffffffffffffffffffffffffffff 4301020300102030405060708090; do
  printf '%s' "$s" | xxd -r -p > "corpus/interp/seed_$i"
  printf '%s' "$s" | xxd -r -p > "corpus/jit/seed_$i"
  i=$((i + 1))
done
echo "seeded $n models into fuzz/corpus/{import,pipeline}, $i byte strings into fuzz/corpus/{interp,jit}"
