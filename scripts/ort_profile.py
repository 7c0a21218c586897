#!/usr/bin/env python3
"""Where ONNX Runtime spends a model's run: per op type (of the optimised graph ORT runs),
mean microseconds per run from ORT's own profiler, to set beside `lnopt bench --profile`.

Usage: python3 scripts/ort_profile.py MODEL.onnx DATA_DIR [--threads 1] [--iters 10]
DATA_DIR holds input_N.pb (a test_data_set folder).
"""
import argparse
import collections
import glob
import json
import os
import tempfile

import onnx
import onnxruntime as ort
from onnx import numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    feeds = {}
    for i, inp in enumerate(sess.get_inputs()):
        t = onnx.TensorProto()
        with open(os.path.join(a.data, f"input_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        feeds[inp.name] = numpy_helper.to_array(t)
    for _ in range(3):
        sess.run(None, feeds)
    # A second session with the profiler on, warmed up the same way; only its timed runs count.
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    prof = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    for _ in range(3):
        prof.run(None, feeds)
    path = prof.end_profiling()
    with open(path) as f:
        warm = len(json.load(f))
    prof = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    for _ in range(a.iters):
        prof.run(None, feeds)
    path = prof.end_profiling()
    with open(path) as f:
        events = json.load(f)
    per_op = collections.defaultdict(float)
    count = collections.Counter()
    per_node = collections.defaultdict(float)
    total_run = 0.0
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"].get("op_name", "?")
            per_op[op] += e["dur"]
            count[op] += 1
            per_node[(op, e["name"][: -len("_kernel_time")])] += e["dur"]
        if e.get("cat") == "Session" and e["name"] == "model_run":
            total_run += e["dur"]
    del warm
    n = a.iters
    total = sum(per_op.values())
    print(f"ORT {ort.__version__}, threads {a.threads}, {n} runs: model_run {total_run / n:.0f} us/run, kernels {total / n:.0f} us/run")
    print(f"{'op':28} {'nodes':>6} {'us/run':>11} {'share':>7}")
    for op, us in sorted(per_op.items(), key=lambda kv: -kv[1]):
        print(f"{op:28} {count[op] // n:6} {us / n:11.1f} {100 * us / total:6.1f}%")
    print("slowest nodes:")
    for (op, name), us in sorted(per_node.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"  {op:20} {us / n:10.1f} us  {name}")


if __name__ == "__main__":
    main()
