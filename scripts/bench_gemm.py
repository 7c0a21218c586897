#!/usr/bin/env python3
"""The GEMM table: GFLOP/s of lnopt's products (`cargo bench -p lnopt-gemm --bench gemm`, one
thread, B packed beforehand, with the core's FMA peak measured in the same run) beside ONNX
Runtime's MatMul on the same shapes (a one-node model, B an initializer, 1 intra-op thread,
ORT_ENABLE_ALL, median of timed runs), run one after the other in this script.

Usage: python3 scripts/bench_gemm.py [--quick]
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def ort_gflops(m, k, n, budget=0.6):
    a = np.random.rand(m, k).astype(np.float32)
    b = np.random.rand(k, n).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "mm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
                          [numpy_helper.from_array(b, "b")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "mm.onnx")
        onnx.save(model, p)
        sess = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
    for _ in range(3):
        sess.run(None, {"a": a})
    times = []
    t_end = time.perf_counter() + budget
    while time.perf_counter() < t_end or len(times) < 5:
        t0 = time.perf_counter()
        sess.run(None, {"a": a})
        times.append(time.perf_counter() - t0)
    return 2.0 * m * k * n / statistics.median(times) / 1e9


def main():
    env = dict(os.environ)
    if "--quick" in sys.argv:
        env["LNOPT_BENCH_QUICK"] = "1"
    out = subprocess.run(["cargo", "bench", "-q", "-p", "lnopt-gemm", "--bench", "gemm"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    peak = re.search(r"FMA peak of one core, same run: ([0-9.]+)", out)
    print(f"onnxruntime {ort.__version__}; {out.splitlines()[0]}\n")
    print("| shape | m×k×n | lnopt GFLOP/s | lnopt % of peak | ORT MatMul GFLOP/s | lnopt / ORT |")
    print("|---|---|---|---|---|---|")
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or not re.match(r"^\d+×\d+×\d+$", cells[1]):
            continue
        m, k, n = (int(x) for x in cells[1].split("×"))
        ours = float(cells[2])
        theirs = ort_gflops(m, k, n)
        print(f"| {cells[0]} | {cells[1]} | {ours:.1f} | {cells[3]} | {theirs:.1f} | {ours / theirs:.2f} |")
    if peak:
        print(f"\npeak (FMA loop, same run): {peak.group(1)} GFLOP/s")


if __name__ == "__main__":
    main()
