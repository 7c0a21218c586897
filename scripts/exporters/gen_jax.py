#!/usr/bin/env python3
"""fixtures/exporters/jax2onnx: Flax nnx LayerNorm / RMSNorm and a transformer block, and plain
jax.numpy norms, exported with jax2onnx (decomposed graphs and its default mode).
jax2onnx 0.17 writes RMSNorm's ReduceMean with an axes input at opset 17 (invalid there), so
the RMSNorm cases use opsets 18 and 21.

Needs (own virtualenv): jax, flax, jax2onnx, onnx, onnxruntime. Run: python gen_jax.py
The site count is the number of nnx.LayerNorm / nnx.RMSNorm calls in one eager forward pass
(and 1 per hand-written jnp norm call).
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from flax import nnx
from jax2onnx import to_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clean_family, report, rng_for, write_case  # noqa: E402

FAMILY = "jax2onnx"
CALLS = {"n": 0}


def _counting(cls):
    orig = cls.__call__

    def call(self, *a, **k):
        CALLS["n"] += 1
        return orig(self, *a, **k)

    cls.__call__ = call


_counting(nnx.LayerNorm)
_counting(nnx.RMSNorm)


def count_calls(fn, x) -> int:
    CALLS["n"] = 0
    fn(x)
    return CALLS["n"]


class Block(nnx.Module):
    """Pre-norm transformer block: LN → attention → residual, LN → MLP → residual."""

    def __init__(self, h: int, rms: bool, rngs: nnx.Rngs):
        norm = nnx.RMSNorm if rms else nnx.LayerNorm
        self.n1 = norm(h, rngs=rngs)
        self.att = nnx.MultiHeadAttention(num_heads=2, in_features=h, decode=False, rngs=rngs)
        self.n2 = norm(h, rngs=rngs)
        self.fc1 = nnx.Linear(h, 2 * h, rngs=rngs)
        self.fc2 = nnx.Linear(2 * h, h, rngs=rngs)

    def __call__(self, x):
        y = self.n1(x)
        x = x + self.att(y, y, y)
        return x + self.fc2(jax.nn.gelu(self.fc1(self.n2(x))))


class Stack(nnx.Module):
    """Two blocks and a final norm."""

    def __init__(self, h: int, rms: bool, rngs: nnx.Rngs):
        self.b1 = Block(h, rms, rngs)
        self.b2 = Block(h, rms, rngs)
        self.out = (nnx.RMSNorm if rms else nnx.LayerNorm)(h, rngs=rngs)

    def __call__(self, x):
        return self.out(self.b2(self.b1(x)))


def randomize(module: nnx.Module, seed: int) -> None:
    """Non-trivial scale and bias (nnx initialises them to ones and zeros)."""
    rng = np.random.default_rng(seed)
    for path, p in nnx.iter_graph(module):
        if isinstance(p, nnx.Param) and path and path[-1] in ("scale", "bias"):
            base = 1.0 if path[-1] == "scale" else 0.0
            p[...] = jnp.asarray(base + 0.2 * rng.standard_normal(p[...].shape), p[...].dtype)


def jnp_layernorm(x):
    """A hand-written LayerNorm over the last axis (centred variance)."""
    m = jnp.mean(x, axis=-1, keepdims=True)
    v = jnp.mean(jnp.square(x - m), axis=-1, keepdims=True)
    return (x - m) * jax.lax.rsqrt(v + 1e-6)


def jnp_rmsnorm(x):
    """A hand-written RMSNorm over the last axis."""
    return x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6)


def jnp_not_a_norm(x):
    """Near-miss: the mean and variance over axis 1 (the sequence), not the features."""
    m = jnp.mean(x, axis=1, keepdims=True)
    v = jnp.mean(jnp.square(x - m), axis=1, keepdims=True)
    return (x - m) * jax.lax.rsqrt(v + 1e-6)


def export(name, fn, shape, sites, kind, desc, *, opset=18, mode="force_decomposed",
           negative=False, cases=None, dyn_batch=False):
    rng = rng_for(FAMILY, name)
    x = (rng.standard_normal(shape) * 2.0 + 0.5).astype(np.float32)
    spec = [("B",) + tuple(shape[1:])] if dyn_batch else [tuple(shape)]
    model = to_onnx(fn, spec, model_name=name, opset=opset, normalization_mode=mode,
                    input_names=["x"])
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(type(model))
    write_case(FAMILY, name, model, {"x": x}, sites=sites, negative=negative, norm_kind=kind,
               source=f"jax {jax.__version__}, flax {__import__('flax').__version__}, "
                      f"jax2onnx to_onnx(opset={opset}, normalization_mode={mode!r}): {desc}")
    cases.append(name)


def main() -> None:
    cases: list[str] = []
    clean_family(FAMILY)
    H = 16
    for mode, tag in [("force_decomposed", "dec"), ("auto", "auto")]:
        for opset in (17, 18, 21):
            ln = nnx.LayerNorm(H, epsilon=1e-5, rngs=nnx.Rngs(0))
            randomize(ln, 1)
            export(f"nnx_layernorm_{tag}_op{opset}", ln, (2, 5, H), count_calls(ln, jnp.ones((2, 5, H))),
                   "layernorm", "nnx.LayerNorm(16)", opset=opset, mode=mode, cases=cases)
        for opset in (18, 21):
            rms = nnx.RMSNorm(H, epsilon=1e-6, rngs=nnx.Rngs(0))
            randomize(rms, 2)
            export(f"nnx_rmsnorm_{tag}_op{opset}", rms, (2, 5, H), count_calls(rms, jnp.ones((2, 5, H))),
                   "rmsnorm", "nnx.RMSNorm(16)", opset=opset, mode=mode, cases=cases)
    ln = nnx.LayerNorm(H, use_bias=False, rngs=nnx.Rngs(0))
    randomize(ln, 3)
    export("nnx_layernorm_nobias", ln, (3, H), 1, "layernorm", "nnx.LayerNorm(use_bias=False), rank 2",
           cases=cases)
    ln = nnx.LayerNorm(H, use_scale=False, use_bias=False, rngs=nnx.Rngs(0))
    export("nnx_layernorm_noaffine", ln, (2, 4, H), 1, "layernorm",
           "nnx.LayerNorm(use_scale=False, use_bias=False)", cases=cases)
    ln = nnx.LayerNorm(H, use_fast_variance=False, rngs=nnx.Rngs(0))
    randomize(ln, 4)
    export("nnx_layernorm_slow_variance", ln, (2, 4, H), 1, "layernorm",
           "nnx.LayerNorm(use_fast_variance=False)", cases=cases)
    ln = nnx.LayerNorm(H, rngs=nnx.Rngs(0))
    randomize(ln, 5)
    export("nnx_layernorm_dynamic_batch", ln, (3, 4, H), 1, "layernorm",
           "nnx.LayerNorm(16), symbolic batch dim", cases=cases, dyn_batch=True)
    for rms in (False, True):
        m = Stack(H, rms, nnx.Rngs(0))
        randomize(m, 6)
        n = count_calls(m, jnp.ones((2, 6, H)))
        tag = "rms" if rms else "ln"
        export(f"nnx_transformer_{tag}", m, (2, 6, H), n, "rmsnorm" if rms else "layernorm",
               "two pre-norm blocks (MultiHeadAttention, GELU MLP) and a final norm", cases=cases)
    export("jnp_layernorm", jnp_layernorm, (2, 4, H), 1, "layernorm",
           "hand-written jnp LayerNorm (mean, centred square, rsqrt)", cases=cases)
    export("jnp_rmsnorm", jnp_rmsnorm, (2, 4, H), 1, "rmsnorm",
           "hand-written jnp RMSNorm (x / sqrt(mean(x*x) + eps))", cases=cases)
    export("neg_jnp_sequence_axis", jnp_not_a_norm, (2, 4, H), 0, "layernorm",
           "NEGATIVE: statistics over axis 1 of [B, T, H] (the sequence), not a trailing axis",
           negative=True, cases=cases)
    report(FAMILY, cases)


if __name__ == "__main__":
    main()
