"""Shared helpers of the exporter corpus generators (scripts/exporters/gen_*.py).

Every generator builds tiny models in a framework, exports them with that framework's ONNX
exporter and writes one case per model in the ONNX backend layout:

    fixtures/exporters/<family>/<case>/model.onnx
    fixtures/exporters/<family>/<case>/test_data_set_0/input_N.pb, output_N.pb
    fixtures/exporters/<family>/<case>/meta.json

The reference outputs are ONNX Runtime's (CPU, all graph optimisations off, one thread) on the
exported model as written. `meta.json` follows ../shared/corpus (read by corpus_eval.py):
`num_norm_sites` is the truth counted on the framework side (calls of its norm layers while
tracing), `negative` marks a near-miss with no norm. ONNX Runtime's own fusion of each case is
recorded by ort_baseline.py.

Only onnx, onnxruntime and numpy are needed here, so every framework's virtualenv can import it.
"""

from __future__ import annotations

import collections
import json
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "fixtures" / "exporters"
NORM_OPS = {"LayerNormalization", "RMSNormalization", "SimplifiedLayerNormalization"}


def rng_for(family: str, case: str) -> np.random.Generator:
    """A numpy generator seeded from the case path, so reruns write the same data."""
    return np.random.default_rng(zlib.crc32(f"{family}/{case}".encode()))


def ort_session(model: onnx.ModelProto | str, level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                optimized_path: str | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session at the given optimisation level, one thread."""
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are not initializers, in order."""
    init = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in init]


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    """Op counts of the main graph, its subgraphs and local functions (bodies once)."""
    hist: collections.Counter = collections.Counter()

    def walk(nodes):
        for n in nodes:
            hist[n.op_type] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g.node)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for g in a.graphs:
                        walk(g.node)

    walk(model.graph.node)
    for f in model.functions:
        walk(f.node)
    return dict(sorted(hist.items()))


def count_norm_nodes(model: onnx.ModelProto) -> int:
    """Native norm nodes, local function bodies counted once per call (as corpus_eval.py)."""
    funcs = {(f.domain, f.name): f for f in model.functions}

    def walk(nodes, depth=0):
        n = 0
        for node in nodes:
            n += node.op_type in NORM_OPS
            f = funcs.get((node.domain, node.op_type))
            if f is not None and depth < 16:
                n += walk(f.node, depth + 1)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    n += walk(a.g.node, depth)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for g in a.graphs:
                        n += walk(g.node, depth)
        return n

    return walk(model.graph.node)


def _write_tensor(path: Path, array: np.ndarray, name: str) -> None:
    path.write_bytes(numpy_helper.from_array(np.asarray(array), name).SerializeToString())


def opset_of(model: onnx.ModelProto) -> int:
    """The model's ai.onnx opset."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def write_case(family: str, case: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray],
               *, sites: int, source: str, norm_kind: str, negative: bool = False,
               notes: str = "", extra: dict[str, Any] | None = None,
               reference: tuple[list[np.ndarray], list[str]] | None = None) -> Path:
    """Check, save and run one case. `feeds` are keyed by graph input name (in any order);
    `reference` (outputs, output names), when given, replaces ONNX Runtime's run of `model`
    (post-processed cases keep the original model's outputs)."""
    onnx.checker.check_model(model, full_check=True)
    d = CORPUS / family / case
    if d.exists():
        shutil.rmtree(d)
    (d / "test_data_set_0").mkdir(parents=True)
    onnx.save_model(model, str(d / "model.onnx"))
    names = [i.name for i in graph_inputs(model)]
    if set(names) != set(feeds):
        raise ValueError(f"{family}/{case}: feeds {sorted(feeds)} != inputs {names}")
    ordered = {n: feeds[n] for n in names}
    if reference is None:
        outs = ort_session(model).run(None, ordered)
        out_names = [o.name for o in model.graph.output]
    else:
        outs, out_names = reference
    for k, n in enumerate(names):
        _write_tensor(d / "test_data_set_0" / f"input_{k}.pb", ordered[n], n)
    for k, (n, a) in enumerate(zip(out_names, outs)):
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(f"{family}/{case}: output {n} is not finite")
        _write_tensor(d / "test_data_set_0" / f"output_{k}.pb", a, n)
    meta = {
        "family": family,
        "source": source,
        "num_norm_sites": 0 if negative else sites,
        "norm_kind": norm_kind,
        "negative": negative,
        "opset": opset_of(model),
        "native_norm_nodes": count_norm_nodes(model),
        "size_bytes": (d / "model.onnx").stat().st_size,
        "original_ops": op_histogram(model),
        "notes": notes,
    }
    meta.update(extra or {})
    (d / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    return d


def clean_family(family: str) -> None:
    """Remove a family's folder so a generator run writes exactly its own cases."""
    if (CORPUS / family).exists():
        shutil.rmtree(CORPUS / family)


def report(family: str, cases: list[str]) -> None:
    """Print what a generator wrote."""
    print(f"{family}: {len(cases)} cases")
    for c in cases:
        print(f"  {c}")
