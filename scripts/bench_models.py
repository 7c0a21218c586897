#!/usr/bin/env python3
"""Whole-model latency: ONNX Runtime (ORT_ENABLE_ALL) on the original model against lnopt's JIT
(`lnopt bench --engine jit`) on the unfused and on the fused model, same inputs
(test_data_set_0) and the same thread count.

Usage:
  python3 scripts/bench_models.py [--lnopt PATH] [--threads 1,2] [--iters 50] [--corpus DIR]
                                  [--models b_bert,b_gpt2,...] [--rounds 3] [--fused-only]

Each round times ORT, then the JIT (unfused unless --fused-only, then fused), one after the
other; every figure is the median over rounds of that round's median latency, so a slow
spell of a shared machine hits both sides alike.

--lnopt defaults to target/release/lnopt (build it with `cargo build --release -p lnopt-cli`).
Prints one markdown table: per model and thread count the median latency in ms of ORT, JIT
unfused and JIT fused, the JIT compile times, and the ratios ORT/JIT unfused, ORT/JIT fused
(>1: the JIT is faster) and unfused/fused (>1: fusion helps).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["b_bert", "b_gpt2", "b_llama", "b_vit", "b_t5", "b_whisper_encoder"]


def ort_median(model_path, data_dir, threads, iters):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    feeds = {}
    for i, inp in enumerate(sess.get_inputs()):
        t = onnx.TensorProto()
        with open(os.path.join(data_dir, f"input_{i}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        feeds[inp.name] = numpy_helper.to_array(t)
    for _ in range(3):
        sess.run(None, feeds)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def lnopt_bench(lnopt, model_path, data_dir, threads, iters, fuse):
    cmd = [lnopt, "bench", model_path, "--engine", "jit", "--threads", str(threads),
           "--data", data_dir, "--iters", str(iters)]
    if fuse:
        cmd.append("--fuse")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, None, (p.stderr.strip().splitlines() or ["failed"])[-1][:80]
    med = re.search(r"median ([0-9.]+) ms", p.stdout)
    comp = re.search(r"compile ([0-9.]+) ms", p.stdout)
    if not med:
        return None, None, "unparsed output"
    return float(med.group(1)), float(comp.group(1)) if comp else None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lnopt", default=os.path.join(HERE, "..", "target", "release", "lnopt"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--corpus", default=os.path.join(HERE, "..", "..", "shared", "corpus", "zoo"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fused-only", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(a.lnopt):
        sys.exit(f"no lnopt binary at {a.lnopt} (cargo build --release -p lnopt-cli, or --lnopt)")
    print(f"onnxruntime {ort.__version__}, {a.rounds} alternating rounds of {a.iters} timed runs "
          "each, median latency in ms")
    print()
    print("| model | threads | ORT | JIT unfused | JIT fused | ORT / JIT unfused | ORT / JIT fused "
          "| unfused / fused | JIT compile unfused / fused (ms) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        case = os.path.join(a.corpus, name)
        model_path = os.path.join(case, "model.onnx")
        data_dir = os.path.join(case, "test_data_set_0")
        if not os.path.exists(model_path):
            print(f"| {name} | - | missing | | | | | | |")
            continue
        for threads in [int(t) for t in a.threads.split(",")]:
            rounds = {"o": [], "u": [], "f": []}
            cu = cf = eu = ef = None
            for _ in range(a.rounds):
                rounds["o"].append(ort_median(model_path, data_dir, threads, a.iters))
                if not a.fused_only:
                    u, cu, eu = lnopt_bench(a.lnopt, model_path, data_dir, threads, a.iters, False)
                    if u is not None:
                        rounds["u"].append(u)
                f, cf, ef = lnopt_bench(a.lnopt, model_path, data_dir, threads, a.iters, True)
                if f is not None:
                    rounds["f"].append(f)
            med = lambda k: statistics.median(rounds[k]) if rounds[k] else None  # noqa: E731
            o, u, f = med("o"), med("u"), med("f")
            fmt = lambda v, e: f"{v:.3f}" if v is not None else (f"error: {e}" if e else "-")  # noqa: E731
            r0 = f"{o / u:.2f}" if u else "-"
            r1 = f"{o / f:.2f}" if f else "-"
            r2 = f"{u / f:.2f}" if (u and f) else "-"
            comp = f"{cu if cu is not None else '-'} / {cf if cf is not None else '-'}"
            print(f"| {name} | {threads} | {o:.3f} | {fmt(u, eu)} | {fmt(f, ef)} | {r0} | {r1} | {r2} "
                  f"| {comp} |", flush=True)


if __name__ == "__main__":
    main()
