#!/usr/bin/env python3
"""Writes the ONNX standard's node tests from the installed `onnx` package.

Each test case of `onnx.backend.test.case.node.collect_testcases()` becomes
`OUT/<name>/model.onnx` with `test_data_set_K/{input_N.pb,output_N.pb}` (the ONNX backend
layout). Only tensor-only cases are written (sequence, optional and map values are skipped and
counted), because `lnopt run --data` reads tensors. The reference outputs are the onnx
package's own (computed by its reference code), independent of lnopt.

Usage: scripts/node_tests/gen.py [OUT]   (default: target/onnx-node-tests)
"""
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases


def is_tensor_type(tp: onnx.TypeProto) -> bool:
    return tp.WhichOneof("value") == "tensor_type"


def to_proto(value, name: str):
    if isinstance(value, onnx.TensorProto):
        t = onnx.TensorProto()
        t.CopyFrom(value)
        t.name = name
        return t
    if isinstance(value, (np.ndarray, np.generic)):
        return numpy_helper.from_array(np.asarray(value), name)
    return None


def write_case(case, out_root: str) -> str:
    """Writes one case; returns '' when written, else why it was skipped."""
    model = case.model
    graph = model.graph
    if not all(is_tensor_type(v.type) for v in list(graph.input) + list(graph.output)):
        return "non-tensor graph input or output"
    sets = []
    for inputs, outputs in case.data_sets:
        ins = [to_proto(v, graph.input[i].name) for i, v in enumerate(inputs)]
        outs = [to_proto(v, graph.output[i].name) for i, v in enumerate(outputs)]
        if any(t is None for t in ins + outs):
            return "non-tensor data"
        sets.append((ins, outs))
    case_dir = os.path.join(out_root, case.name)
    os.makedirs(case_dir, exist_ok=True)
    onnx.save(model, os.path.join(case_dir, "model.onnx"))
    for k, (ins, outs) in enumerate(sets):
        d = os.path.join(case_dir, f"test_data_set_{k}")
        os.makedirs(d, exist_ok=True)
        for i, t in enumerate(ins):
            with open(os.path.join(d, f"input_{i}.pb"), "wb") as f:
                f.write(t.SerializeToString())
        for i, t in enumerate(outs):
            with open(os.path.join(d, f"output_{i}.pb"), "wb") as f:
                f.write(t.SerializeToString())
    return ""


def main() -> int:
    out_root = sys.argv[1] if len(sys.argv) > 1 else "target/onnx-node-tests"
    if os.path.isdir(out_root):
        shutil.rmtree(out_root)
    os.makedirs(out_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases()
    written, skipped = 0, {}
    for case in sorted(cases, key=lambda c: c.name):
        why = write_case(case, out_root)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
        else:
            written += 1
    print(f"onnx {onnx.__version__}: {written} tensor-only node tests written to {out_root}")
    for why, n in sorted(skipped.items()):
        print(f"  skipped {n}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
