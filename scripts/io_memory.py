#!/usr/bin/env python3
"""Peak memory and time of `lnopt MODEL -o OUT` on a large model, relative to the model's size.

Builds a ~256 MB model (a chain of MatMuls over 16 MiB weight matrices, plus one decomposed
LayerNorm), runs the lnopt binary on it (with and without fusion) and reports the child's peak
resident set (ru_maxrss) divided by the model file's size.

Usage: scripts/io_memory.py [--lnopt target/release/lnopt] [--mib 256]
Needs: pip install onnx numpy
"""
import argparse, os, resource, subprocess, sys, tempfile, time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(path, mib):
    n = 2048  # 2048 x 2048 f32 = 16 MiB per matrix
    count = max(1, mib // 16)
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    cur = "x"
    for i in range(count):
        w = rng.standard_normal((n, n), dtype=np.float32) * 0.01
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [cur, f"w{i}"], [f"h{i}"]))
        cur = f"h{i}"
    # One decomposed LayerNorm at the end so fusion has something to do.
    inits += [numpy_helper.from_array(np.array(2.0, np.float32), "two"),
              numpy_helper.from_array(np.array(1e-5, np.float32), "eps")]
    nodes += [
        helper.make_node("ReduceMean", [cur], ["m"], axes=[-1]),
        helper.make_node("Sub", [cur, "m"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["d2"]),
        helper.make_node("ReduceMean", ["d2"], ["v"], axes=[-1]),
        helper.make_node("Add", ["v", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["s"]),
        helper.make_node("Div", ["d", "s"], ["y"]),
    ]
    g = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save_model(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lnopt", default="target/release/lnopt")
    ap.add_argument("--mib", type=int, default=256)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "big.onnx")
        build(src, a.mib)
        size = os.path.getsize(src)
        for label, extra in (("import+export (--no-fuse)", ["--no-fuse"]), ("import+fuse+export", [])):
            out = os.path.join(tmp, "out.onnx")
            t = time.perf_counter()
            # Each run in its own child so ru_maxrss is that run's peak.
            code = ("import resource,subprocess,sys;"
                    "r=subprocess.run(sys.argv[1:]).returncode;"
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r)")
            p = subprocess.run([sys.executable, "-c", code, a.lnopt, src, "-o", out, "-q"] + extra,
                               capture_output=True, text=True)
            secs = time.perf_counter() - t
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                return 1
            peak = int(p.stdout.strip().splitlines()[-1]) * 1024
            print(f"{label:28} model {size/2**20:7.1f} MiB  peak RSS {peak/2**20:7.1f} MiB "
                  f"= {peak/size:.2f}x  wall {secs:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
