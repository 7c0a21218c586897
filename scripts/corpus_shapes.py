#!/usr/bin/env python3
"""Record the actual shape and dtype of every value of every corpus model.

Usage: python3 scripts/corpus_shapes.py ../shared/corpus OUT_DIR [--compact FILE]

For each <case>/model.onnx under the corpus, makes a copy whose graph outputs are every node
output of the main graph, runs it with ONNX Runtime (all graph optimizations off) on the
inputs of test_data_set_0, and writes OUT_DIR/<case>.json:

    {"case": ..., "values": {name: {"dtype": <TensorProto code>, "shape": [dims...]}}}

With --compact FILE, also writes one JSON object {case: {name: [dtype, [dims]]}} for all
cases, which lnopt-infer's corpus test reads (ground truth for inferred shapes and dtypes).
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

NP_TO_ONNX = {
    np.dtype(k): v
    for k, v in {
        "float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6,
        "int64": 7, "bool": 9, "float16": 10, "float64": 11, "uint32": 12, "uint64": 13,
    }.items()
}


def load_inputs(case_dir, model):
    """Reads test_data_set_0/input_N.pb, bound to the model's real inputs in order."""
    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    feeds = {}
    data_dir = os.path.join(case_dir, "test_data_set_0")
    for k, name in enumerate(names):
        path = os.path.join(data_dir, f"input_{k}.pb")
        if not os.path.exists(path):
            break
        t = onnx.TensorProto()
        with open(path, "rb") as f:
            t.ParseFromString(f.read())
        feeds[t.name or name] = numpy_helper.to_array(t)
    return feeds


def record(case_dir):
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    existing = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for out in node.output:
            if out and out not in existing:
                model.graph.output.append(onnx.ValueInfoProto(name=out))
                existing.add(out)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = load_inputs(case_dir, model)
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, feeds)
    values = {}
    for name, arr in zip(names, results):
        if not isinstance(arr, np.ndarray):
            continue
        code = NP_TO_ONNX.get(arr.dtype)
        if code is None:
            continue
        values[name] = {"dtype": code, "shape": list(arr.shape)}
    return values


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    compact_path = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--compact" else None
    os.makedirs(out_dir, exist_ok=True)
    compact = {}
    for dirpath, _dirs, files in sorted(os.walk(root)):
        if "model.onnx" not in files:
            continue
        case = os.path.relpath(dirpath, root).replace(os.sep, "/")
        try:
            values = record(dirpath)
        except Exception as e:  # a model ORT cannot run: note it and go on
            print(f"skip {case}: {e}", file=sys.stderr)
            continue
        with open(os.path.join(out_dir, case.replace("/", "__") + ".json"), "w") as f:
            json.dump({"case": case, "values": values}, f)
        compact[case] = {k: [v["dtype"], v["shape"]] for k, v in sorted(values.items())}
        print(f"{case}: {len(values)} values", file=sys.stderr)
    if compact_path:
        os.makedirs(os.path.dirname(compact_path) or ".", exist_ok=True)
        with open(compact_path, "w") as f:
            json.dump(compact, f, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    main()
