#!/usr/bin/env python3
"""One normalisation node as a whole model: ONNX Runtime (`session.run`, ORT_ENABLE_ALL) against
`lnopt bench --engine jit` on the same model and input, the path a user times (inputs in,
outputs out, every per-run cost included). Rounds alternate ORT and lnopt; each figure is the
median over rounds of each round's median latency.

Sizes: rows x hidden in cache (64x768 … 512x768 = 1.5 MB) and beyond (1365x768, 4096x1024).

Usage: python3 scripts/bench_single_norm.py [--lnopt PATH] [--threads 1,2] [--rounds 5]
                                            [--iters 200] [--op LayerNormalization|RMSNormalization]
"""
import argparse
import os
import statistics
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_models import lnopt_bench, ort_median  # noqa: E402

SIZES = [(64, 768), (197, 768), (512, 768), (1365, 768), (4096, 1024)]


def write_case(root, op, rows, hidden):
    """Writes model.onnx and test_data_set_0/input_0.pb for one node of `op`; returns the dir."""
    rng = np.random.default_rng(rows * 7919 + hidden)
    g = rng.standard_normal(hidden).astype(np.float32)
    b = rng.standard_normal(hidden).astype(np.float32)
    inits = [numpy_helper.from_array(g, "g")]
    names = ["x", "g"]
    opset = 23 if op == "RMSNormalization" else 17
    if op == "LayerNormalization":
        inits.append(numpy_helper.from_array(b, "b"))
        names.append("b")
    node = helper.make_node(op, names, ["y"], axis=-1, epsilon=1e-5)
    graph = helper.make_graph(
        [node], "norm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, hidden])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    case = os.path.join(root, f"{op}_{rows}x{hidden}")
    os.makedirs(os.path.join(case, "test_data_set_0"), exist_ok=True)
    onnx.save(m, os.path.join(case, "model.onnx"))
    x = rng.standard_normal((rows, hidden)).astype(np.float32)
    with open(os.path.join(case, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, "x").SerializeToString())
    return case


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--lnopt", default=os.path.join(here, "..", "target", "release", "lnopt"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--op", default="LayerNormalization")
    a = ap.parse_args()
    if not os.path.exists(a.lnopt):
        sys.exit(f"no lnopt binary at {a.lnopt} (cargo build --release -p lnopt-cli, or --lnopt)")
    import onnxruntime as ort
    print(f"onnxruntime {ort.__version__}; {a.op}; median over {a.rounds} alternating rounds of "
          f"the median of {a.iters} runs; latency in microseconds")
    print()
    print("| rows x hidden | MB in+out | threads | ORT | lnopt JIT | ORT / lnopt |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as root:
        for rows, hidden in SIZES:
            case = write_case(root, a.op, rows, hidden)
            model, data = os.path.join(case, "model.onnx"), os.path.join(case, "test_data_set_0")
            for threads in [int(t) for t in a.threads.split(",")]:
                ours, theirs = [], []
                for _ in range(a.rounds):
                    theirs.append(ort_median(model, data, threads, a.iters))
                    ms, _, err = lnopt_bench(a.lnopt, model, data, threads, a.iters, False)
                    if ms is None:
                        sys.exit(f"lnopt bench failed on {case}: {err}")
                    ours.append(ms)
                o, l = statistics.median(theirs) * 1e3, statistics.median(ours) * 1e3
                mb = rows * hidden * 8 / 1e6
                print(f"| {rows}x{hidden} | {mb:.1f} | {threads} | {o:.1f} | {l:.1f} | {o / l:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
