#!/usr/bin/env python3
"""Checks `lnopt --target ort` output with ONNX Runtime: for every case of a corpus folder,
fuse with ORT's private ops at the model's own opset, run the result in ONNX Runtime (graph
optimisations off) on test_data_set_0 and compare with the reference outputs.

Usage: scripts/check_ort_target.py [--lnopt target/release/lnopt] DIR [DIR ...]
Needs: pip install onnx onnxruntime numpy
"""
import argparse, glob, os, subprocess, sys, tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def load(ds, kind):
    out = []
    for i in range(len(glob.glob(os.path.join(ds, f"{kind}_*.pb")))):
        t = onnx.TensorProto()
        t.ParseFromString(open(os.path.join(ds, f"{kind}_{i}.pb"), "rb").read())
        out.append((t.name, numpy_helper.to_array(t)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lnopt", default="target/release/lnopt")
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    ok = bad = fused = 0
    with tempfile.TemporaryDirectory() as tmp:
        for d in a.dirs:
            for case in sorted(glob.glob(os.path.join(d, "*", "model.onnx"))):
                case = os.path.dirname(case)
                out = os.path.join(tmp, "out.onnx")
                p = subprocess.run([a.lnopt, os.path.join(case, "model.onnx"), "-o", out, "--target", "ort", "-q"],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    print("ERROR", os.path.basename(case), p.stderr.strip()[-200:]); bad += 1; continue
                m = onnx.load(out)
                fused += sum(n.op_type in ("LayerNormalization", "SimplifiedLayerNormalization") for n in m.graph.node)
                so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                so.log_severity_level = 3
                try:
                    sess = ort.InferenceSession(out, so, providers=["CPUExecutionProvider"])
                    names = [i.name for i in sess.get_inputs()]
                    ins = load(os.path.join(case, "test_data_set_0"), "input")
                    feed = {n if n in names else names[k]: v for k, (n, v) in enumerate(ins)}
                    got = sess.run(None, feed)
                    for g, (_, w) in zip(got, load(os.path.join(case, "test_data_set_0"), "output")):
                        tol = 2e-2 if w.dtype == np.float16 else 2e-3
                        if g.shape != w.shape or not np.allclose(g.astype(np.float64), w.astype(np.float64),
                                                                  atol=tol / 10 if tol < 1e-2 else tol, rtol=tol,
                                                                  equal_nan=True):
                            raise AssertionError("outputs differ")
                    ok += 1
                except Exception as e:  # noqa: BLE001 - report every failure kind the same way
                    print("FAIL ", os.path.basename(case), str(e).splitlines()[0][:200]); bad += 1
    print(f"{ok} ok, {bad} failed, {fused} ORT-form norm nodes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
