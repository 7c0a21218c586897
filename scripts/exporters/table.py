#!/usr/bin/env python3
"""The coverage table of the exporter corpus: per family, sites, sites fused by lnopt (via
../shared/tools/corpus_eval.py) and by ONNX Runtime's optimiser at ORT_ENABLE_EXTENDED (norm
nodes it leaves, minus the native ones, at most the sites; fused nodes in local functions
counted per call).

Usage: table.py --lnopt target/release/lnopt --eval ../shared/tools/corpus_eval.py DIR [DIR ...]
Needs onnx, onnxruntime, numpy.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import count_norm_nodes  # noqa: E402

ORT_NORMS = {"LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization",
             "SkipSimplifiedLayerNormalization", "RMSNormalization"}


def ort_fused(case: str, sites: int) -> int:
    m = onnx.load(os.path.join(case, "model.onnx"))
    before = count_norm_nodes(m)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "o.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = p
        so.log_severity_level = 3
        try:
            ort.InferenceSession(os.path.join(case, "model.onnx"), so,
                                 providers=["CPUExecutionProvider"])
            o = onnx.load(p)
        except Exception:  # noqa: BLE001 - a model ORT cannot optimise counts as 0 fused
            return 0
    funcs = {(f.domain, f.name): f for f in o.functions}

    def walk(nodes, depth=0):
        n = 0
        for node in nodes:
            n += node.op_type in ORT_NORMS
            f = funcs.get((node.domain, node.op_type))
            if f is not None and depth < 16:
                n += walk(f.node, depth + 1)
        return n

    return max(0, min(walk(o.graph.node) - before, sites))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lnopt", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    print("| family | cases | sites | lnopt fused | unsound | ONNX Runtime fused (EXTENDED) |")
    print("|---|---|---|---|---|---|")
    for d in a.dirs:
        with tempfile.NamedTemporaryFile(suffix=".json") as js:
            out = subprocess.run([sys.executable, a.eval, "--lnopt", a.lnopt, d, "--json", js.name],
                                 capture_output=True, text=True)
            lines = out.stdout.strip().splitlines()
            summary = [line for line in lines if line.startswith("cases") or line.startswith("sites")]
        cases = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(d, "*", "model.onnx")))
        sites = ort_total = 0
        for c in cases:
            meta = json.load(open(os.path.join(c, "meta.json")))
            n = int(meta["num_norm_sites"]) - int(meta.get("native_norm_nodes", 0))
            sites += max(n, 0)
            ort_total += ort_fused(c, max(n, 0))
        fused = summary[1].split()[2] if len(summary) > 1 else "?"
        unsound = summary[0].split()[-1] if summary else "?"
        pct = f"{100.0 * ort_total / max(sites, 1):.0f} %"
        print(f"| {os.path.basename(d.rstrip('/'))} | {len(cases)} | {sites} | {fused} | {unsound} "
              f"| {ort_total}/{sites} ({pct}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
