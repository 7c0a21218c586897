#!/usr/bin/env python3
"""Times ONNX Runtime's LayerNormalization (and RMSNormalization when the installed ORT has it)
CPU kernel on the same rows x hidden sizes as benches/jit_norm.rs, with 1 and 2 intra-op
threads, and prints GB/s counted as (bytes read + bytes written) / time, like the Rust bench.
Two figures per case: `run` is the best `session.run` wall time (includes Python binding and
output allocation overhead), `kernel` the best time of the LayerNormalization node alone from
ORT's own profiler (the kernel's `dur`, microseconds) -- the fair figure for the kernel.

Usage: python3 scripts/bench_ort_layernorm.py [--quick]
"""
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

HIDDEN = [64, 384, 768, 1024, 4096]
SIZES = [256 << 10, 8 << 20, 32 << 20, 128 << 20]


def model(op, hidden, opset):
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", hidden])]
    inits = [helper.make_tensor("g", TensorProto.FLOAT, [hidden], np.ones(hidden, np.float32))]
    names = ["x", "g"]
    if op == "LayerNormalization":
        inits.append(helper.make_tensor("b", TensorProto.FLOAT, [hidden], np.zeros(hidden, np.float32)))
        names.append("b")
    node = helper.make_node(op, names, ["y"], axis=-1, epsilon=1e-5)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", hidden])
    g = helper.make_graph([node], "ln", inputs, [out], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def time_it(sess, x, min_time=0.5):
    sess.run(None, {"x": x})
    n, t0 = 0, time.perf_counter()
    best = float("inf")
    while time.perf_counter() - t0 < min_time or n < 3:
        t = time.perf_counter()
        sess.run(None, {"x": x})
        best = min(best, time.perf_counter() - t)
        n += 1
    return best


def kernel_time(m, x, threads, runs=30):
    """Best LayerNormalization/RMSNormalization kernel time (s) from ORT's profiler."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "lnopt_ort_ln")
    sess = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        sess.run(None, {"x": x})
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    durs = [e["dur"] for e in events
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    return min(durs) * 1e-6 if durs else float("nan")


def main():
    sizes = [SIZES[0], SIZES[-1]] if "--quick" in sys.argv else SIZES
    print(f"onnxruntime {ort.__version__}")
    print(f"{'op':<6}{'hidden':>7}{'KiB':>9}{'threads':>8}{'run GB/s':>10}{'kernel GB/s':>12}")
    for op, opset, tag in [("LayerNormalization", 17, "ln"), ("RMSNormalization", 23, "rms")]:
        for hidden in HIDDEN:
            try:
                m = model(op, hidden, opset).SerializeToString()
            except Exception as e:  # noqa: BLE001
                print(f"{tag}: cannot build model: {e}")
                break
            for size in sizes:
                rows = max(1, size // 4 // hidden)
                x = np.random.default_rng(0).standard_normal((rows, hidden), dtype=np.float32)
                for threads in (1, 2):
                    so = ort.SessionOptions()
                    so.intra_op_num_threads = threads
                    so.inter_op_num_threads = 1
                    try:
                        sess = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
                    except Exception as e:  # noqa: BLE001
                        print(f"{tag}: not available in this ORT ({str(e).splitlines()[0][:80]})")
                        break
                    t = time_it(sess, x)
                    gbs = 2 * x.nbytes / t / 1e9
                    kgbs = 2 * x.nbytes / kernel_time(m, x, threads) / 1e9
                    print(f"{tag:<6}{hidden:>7}{x.nbytes >> 10:>9}{threads:>8}{gbs:>10.2f}"
                          f"{kgbs:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
