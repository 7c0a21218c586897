#!/usr/bin/env python3
"""fixtures/exporters/post_<tool>: exporter cases passed through the graph post-processors
people run on exports — onnxsim, onnxslim, onnxoptimizer, onnxconverter_common's float16
converter and ONNX Runtime's basic optimisation level (saved with optimized_model_filepath).

Each processed case keeps the ORIGINAL export's test data: its inputs and ONNX Runtime's
outputs of the model before processing, so a processor that changed the function would show
up as a mismatch too. The site count is the original case's. fp16 cases keep float32 inputs
and outputs (keep_io_types) and are compared with fp16 tolerances (`compute_dtype`).

Needs (own virtualenv): onnx, onnxruntime, onnxsim, onnxslim, onnxoptimizer,
onnxconverter-common. Run after the generators: python gen_post.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, clean_family, ort_session, report, write_case  # noqa: E402

# The source cases processed (a few per exporter family, negatives included).
SOURCES = {
    "jax2onnx": ["nnx_layernorm_dec_op18", "nnx_rmsnorm_dec_op18", "nnx_layernorm_nobias",
                 "nnx_transformer_ln", "nnx_transformer_rms", "neg_jnp_sequence_axis"],
    "keras3_export": ["ln_axis_last", "ln_axis_123", "ln_no_center", "rms", "encoder_block",
                      "neg_global_pool"],
    "tf2onnx_keras3": ["ln_axis_last_op17", "ln_no_scale_op15", "ln_axis_23_op15",
                       "preln_block_op15"],
    "tf2onnx_keras2": ["ln_axis_last_op13", "encoder_block_op17"],
    "paddle2onnx": ["layernorm_op13", "rmsnorm_ops", "encoder_preln", "neg_no_sqrt"],
    "timm": ["rmsnorm2d_block", "rmsnorm"],
    "transformers": ["distilbert", "mistral", "qwen3", "gemma2", "t5", "whisper", "wav2vec2",
                     "segformer", "nemotron", "olmo", "bloom", "deberta_v2"],
    "transformers_dynamo": ["llama", "qwen3", "gemma", "t5"],
    "torch_functions": ["layernorm_as_function_op15"],
}


def read_tensors(d: Path, prefix: str) -> list[onnx.TensorProto]:
    out = []
    k = 0
    while (d / f"{prefix}_{k}.pb").exists():
        t = onnx.TensorProto()
        t.ParseFromString((d / f"{prefix}_{k}.pb").read_bytes())
        out.append(t)
        k += 1
    return out


def onnxsim_tool(m):
    import onnxsim
    s, ok = onnxsim.simplify(m)
    if not ok:
        raise RuntimeError("onnxsim could not validate its output")
    return s, f"onnxsim {onnxsim.__version__} simplify()"


def onnxslim_tool(m):
    import onnxslim
    return onnxslim.slim(m), f"onnxslim {onnxslim.__version__} slim()"


def onnxoptimizer_tool(m):
    import onnxoptimizer
    return onnxoptimizer.optimize(m), f"onnxoptimizer {onnxoptimizer.__version__} optimize() default passes"


def fp16_tool(m):
    from onnxconverter_common import float16
    import onnxconverter_common
    return (float16.convert_float_to_float16(m, keep_io_types=True),
            f"onnxconverter_common {onnxconverter_common.__version__} "
            "float16.convert_float_to_float16(keep_io_types=True)")


def ort_basic_tool(m):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "opt.onnx")
        ort_session(m, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, optimized_path=p)
        return onnx.load(p), (f"onnxruntime {ort.__version__} ORT_ENABLE_BASIC, "
                              "optimized_model_filepath")


TOOLS = {"onnxsim": onnxsim_tool, "onnxslim": onnxslim_tool, "onnxoptimizer": onnxoptimizer_tool,
         "fp16": fp16_tool, "ort_basic": ort_basic_tool}


def within(got, want, fp16: bool) -> bool:
    atol, rtol = (2e-2, 2e-2) if fp16 else (2e-4, 2e-3)
    g, w = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return g.shape == w.shape and bool(np.all(np.abs(g - w) <= atol + rtol * np.abs(w)))


def main() -> None:
    written = {t: [] for t in TOOLS}
    skipped = []
    for tool in TOOLS:
        clean_family(f"post_{tool}")
    for family, names in SOURCES.items():
        for name in names:
            src = CORPUS / family / name
            if not (src / "model.onnx").exists():
                skipped.append(f"{family}/{name}: no such source case")
                continue
            meta = json.loads((src / "meta.json").read_text())
            model = onnx.load(str(src / "model.onnx"))
            ins = read_tensors(src / "test_data_set_0", "input")
            outs = read_tensors(src / "test_data_set_0", "output")
            feeds = {t.name: numpy_helper.to_array(t) for t in ins}
            ref = [numpy_helper.to_array(t) for t in outs]
            for tool, fn in TOOLS.items():
                case = f"{family}__{name}"
                try:
                    processed, how = fn(onnx.load(str(src / "model.onnx")))
                    onnx.checker.check_model(processed, full_check=True)
                    got = ort_session(processed).run(None, feeds)
                except Exception as e:  # noqa: BLE001 - a tool failing on a model is noted
                    skipped.append(f"{tool} {family}/{name}: {type(e).__name__}: {e}"[:200])
                    continue
                fp16 = tool == "fp16"
                if not all(within(g, r, fp16) for g, r in zip(got, ref)):
                    skipped.append(f"{tool} {family}/{name}: processed model's outputs differ "
                                   "from the original's beyond tolerance")
                    continue
                extra = {"processed_from": f"{family}/{name}", "exporter": meta.get("source", "")}
                if fp16:
                    extra["compute_dtype"] = "float16"
                write_case(f"post_{tool}", case, processed, feeds, sites=meta["num_norm_sites"],
                           negative=meta["negative"], norm_kind=meta["norm_kind"],
                           source=f"{how} on fixtures/exporters/{family}/{name}",
                           extra=extra, reference=(ref, [t.name for t in outs]))
                written[tool].append(case)
    for tool, cases in written.items():
        report(f"post_{tool}", cases)
    print("skipped:")
    for s in skipped:
        print(f"  {s}")
    (CORPUS / "post_skipped.txt").write_text("\n".join(skipped) + "\n")


if __name__ == "__main__":
    main()
