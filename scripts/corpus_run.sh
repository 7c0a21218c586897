#!/usr/bin/env bash
# Runs `lnopt run MODEL --data test_data_set_0` over a corpus with an engine, original and
# fused (`--fuse`), and counts matches. Usage:
#   scripts/corpus_run.sh [LNOPT] [ENGINE] DIR...     (defaults: target/release/lnopt, interp)
# Exit status 1 if any case does not match its reference outputs.
set -u
LNOPT=${1:-target/release/lnopt}; ENGINE=${2:-interp}; shift 2 || true
[ $# -gt 0 ] || set -- ../shared/corpus/zoo ../shared/corpus/onnx-node
ok=0; bad=0
for dir in "$@"; do
  for case in "$dir"/*/; do
    [ -f "$case/model.onnx" ] || continue
    for mode in "" "--fuse"; do
      if "$LNOPT" run "$case/model.onnx" --data "$case/test_data_set_0" --engine "$ENGINE" $mode >/tmp/corpus_run.out 2>&1; then
        ok=$((ok+1))
      else
        bad=$((bad+1)); echo "FAIL $(basename "$case") $mode: $(tail -1 /tmp/corpus_run.out)"
      fi
    done
  done
done
echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]
