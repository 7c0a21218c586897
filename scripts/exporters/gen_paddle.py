#!/usr/bin/env python3
"""fixtures/exporters/paddle2onnx: paddle.nn.LayerNorm (last axis, last two axes, without
affine), an RMSNorm written with paddle ops, and a small transformer encoder, exported with
paddle.onnx.export (paddle2onnx).

Needs (own virtualenv): paddlepaddle, paddle2onnx, onnx, onnxruntime. Run: python gen_paddle.py
The site count is the number of paddle.nn.LayerNorm / RMSNorm forward calls in one eager run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import paddle

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clean_family, report, rng_for, write_case  # noqa: E402

FAMILY = "paddle2onnx"


class RMSNorm(paddle.nn.Layer):
    """LLaMA-style RMSNorm written with paddle ops (paddle.nn has no RMSNorm layer)."""

    def __init__(self, h: int, eps: float = 1e-6):
        super().__init__()
        self.weight = self.create_parameter([h], default_initializer=paddle.nn.initializer.Constant(1.0))
        self.eps = eps

    def forward(self, x):
        v = paddle.mean(paddle.pow(x, 2), axis=-1, keepdim=True)
        return x * paddle.rsqrt(v + self.eps) * self.weight


class Wrap(paddle.nn.Layer):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class Encoder(paddle.nn.Layer):
    def __init__(self, h: int, pre: bool):
        super().__init__()
        layer = paddle.nn.TransformerEncoderLayer(h, 2, 2 * h, dropout=0.0, normalize_before=pre)
        self.enc = paddle.nn.TransformerEncoder(layer, 2, norm=paddle.nn.LayerNorm(h) if pre else None)

    def forward(self, x):
        return self.enc(x)


class NotANorm(paddle.nn.Layer):
    """Near-miss: (x - mean) / (var + eps) without the square root."""

    def forward(self, x):
        m = paddle.mean(x, axis=-1, keepdim=True)
        v = paddle.mean((x - m) ** 2, axis=-1, keepdim=True)
        return (x - m) / (v + 1e-5)


def count_calls(layer, x) -> int:
    n = {"c": 0}
    hooks = []
    for sub in layer.sublayers(include_self=True):
        if isinstance(sub, (paddle.nn.LayerNorm, RMSNorm)):
            hooks.append(sub.register_forward_post_hook(lambda *a: n.__setitem__("c", n["c"] + 1)))
    layer(paddle.to_tensor(x))
    for h in hooks:
        h.remove()
    return n["c"]


def randomize(layer, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for sub in layer.sublayers(include_self=True):
        if isinstance(sub, (paddle.nn.LayerNorm, RMSNorm)):
            for name, p in sub.named_parameters():
                base = 1.0 if name.endswith("weight") else 0.0
                p.set_value((base + 0.2 * rng.standard_normal(p.shape)).astype(np.float32))


def export(name, layer, shape, desc, cases, *, opset=13, negative=False, kind="layernorm"):
    layer.eval()
    randomize(layer, 11)
    rng = rng_for(FAMILY, name)
    x = (rng.standard_normal(shape) * 2.0 + 0.5).astype(np.float32)
    sites = count_calls(layer, x)
    with tempfile.TemporaryDirectory() as d:
        spec = [paddle.static.InputSpec(shape=[None] + list(shape[1:]), dtype="float32", name="x")]
        paddle.onnx.export(layer, os.path.join(d, "m"), input_spec=spec, opset_version=opset)
        model = onnx.load(os.path.join(d, "m.onnx"))
    import paddle2onnx
    write_case(FAMILY, name, model, {model.graph.input[0].name: x}, sites=sites,
               negative=negative, norm_kind=kind,
               source=f"paddlepaddle {paddle.__version__}, paddle2onnx {paddle2onnx.__version__}, "
                      f"paddle.onnx.export(opset_version={opset}): {desc}")
    cases.append(name)


def main() -> None:
    paddle.seed(0)
    clean_family(FAMILY)
    cases: list[str] = []
    H = 16
    for opset in (11, 13, 17):
        export(f"layernorm_op{opset}", Wrap(paddle.nn.LayerNorm(H)), (2, 5, H),
               "paddle.nn.LayerNorm(16)", cases, opset=opset)
    export("layernorm_last2", Wrap(paddle.nn.LayerNorm([4, H])), (2, 4, H),
           "paddle.nn.LayerNorm([4, 16])", cases)
    export("layernorm_noaffine", Wrap(paddle.nn.LayerNorm(H, weight_attr=False, bias_attr=False)),
           (2, 5, H), "paddle.nn.LayerNorm(16, weight_attr=False, bias_attr=False)", cases)
    export("rmsnorm_ops", Wrap(RMSNorm(H)), (2, 5, H), "RMSNorm from paddle.mean/pow/rsqrt",
           cases, kind="rmsnorm")
    export("encoder_postln", Encoder(H, False), (2, 6, H),
           "nn.TransformerEncoder, 2 post-norm layers", cases)
    export("encoder_preln", Encoder(H, True), (2, 6, H),
           "nn.TransformerEncoder, 2 pre-norm layers and a final LayerNorm", cases)
    export("neg_no_sqrt", NotANorm(), (2, 5, H), "NEGATIVE: (x - m) / (var + eps), no sqrt",
           cases, negative=True)
    report(FAMILY, cases)


if __name__ == "__main__":
    main()
