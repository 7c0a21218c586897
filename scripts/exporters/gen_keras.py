#!/usr/bin/env python3
"""fixtures/exporters/{tf2onnx_keras3, tf2onnx_keras2, keras3_export}: Keras LayerNormalization
(axis -1 and [1, 2, 3], with and without center / scale), Keras 3 RMSNormalization and small
transformer blocks, exported by tf2onnx (from a tf.function of the model) and by Keras 3's own
`model.export(format="onnx")`.

Needs (own virtualenv): tensorflow-cpu, tf-keras, tf2onnx, onnx, onnxruntime.
Run: python gen_keras.py. The site count is the number of norm layers the model calls (each
layer of these functional models is called once).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

import keras  # noqa: E402  (Keras 3)
import tf_keras  # noqa: E402  (Keras 2)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clean_family, report, rng_for, write_case  # noqa: E402

NORM_CLASSES = ("LayerNormalization", "RMSNormalization", "UnitNormalization")


def norm_layers(model) -> int:
    """Norm layers reachable in the model (each called once in these models)."""
    seen = set()
    n = 0
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if type(layer).__name__ in ("LayerNormalization", "RMSNormalization"):
            n += 1
        stack.extend(getattr(layer, "_layers", []) or [])
        for attr in vars(layer).values():
            if hasattr(attr, "trainable_weights") and hasattr(attr, "call") and attr is not layer:
                stack.append(attr)
    return n


def randomize(model, seed: int) -> None:
    """Non-trivial gamma / beta (Keras initialises them to ones and zeros)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        name = w.name if hasattr(w, "name") else ""
        if "gamma" in name or "beta" in name or "scale" in name:
            base = 1.0 if ("gamma" in name or "scale" in name) else 0.0
            w.assign((base + 0.2 * rng.standard_normal(tuple(w.shape))).astype(np.float32))


def tf2onnx_export(model, shape, opset: int, dyn_batch: bool) -> onnx.ModelProto:
    spec = (tf.TensorSpec((None,) + tuple(shape[1:]) if dyn_batch else shape, tf.float32, name="x"),)
    fn = tf.function(lambda x: model(x, training=False))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset)
    return proto


def keras_export(model, shape, opset: int) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.onnx")
        model.export(p, format="onnx", verbose=False, opset_version=opset,
                     input_signature=[keras.InputSpec(shape=(None,) + tuple(shape[1:]),
                                                      dtype="float32", name="x")])
        return onnx.load(p)


def build(K, kind: str, shape, **kw):
    """A small functional model in Keras module K (keras or tf_keras)."""
    L = K.layers
    inp = K.Input(shape=shape[1:], name="x")
    if kind == "ln":
        out = L.LayerNormalization(**kw)(inp)
    elif kind == "rms":
        out = L.RMSNormalization(**kw)(inp)
    elif kind == "dense_ln":
        h = L.Dense(shape[-1])(inp)
        out = L.LayerNormalization(**kw)(h)
    elif kind == "block":
        h = shape[-1]
        a = L.MultiHeadAttention(num_heads=2, key_dim=h // 2)(inp, inp)
        x = L.LayerNormalization(epsilon=1e-6)(inp + a if K is keras else L.Add()([inp, a]))
        f = L.Dense(h)(L.Dense(2 * h, activation="relu")(x))
        out = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, f]))
    elif kind == "preln_block":
        h = shape[-1]
        y = L.LayerNormalization()(inp)
        a = L.MultiHeadAttention(num_heads=2, key_dim=h // 2)(y, y)
        x = L.Add()([inp, a])
        f = L.Dense(h)(L.Dense(2 * h, activation="relu")(L.LayerNormalization()(x)))
        out = L.LayerNormalization()(L.Add()([x, f]))
    elif kind == "conv_ln":
        h = L.Conv2D(shape[-1], 3, padding="same")(inp)
        out = L.LayerNormalization(**kw)(h)
    elif kind == "neg_pool":
        out = L.Dense(4)(L.GlobalAveragePooling1D()(inp))
    elif kind == "neg_batchnorm":
        out = L.BatchNormalization()(L.Dense(shape[-1])(inp))
    else:
        raise ValueError(kind)
    return K.Model(inp, out)


def main() -> None:
    fams = {"tf2onnx_keras3": [], "tf2onnx_keras2": [], "keras3_export": []}
    for f in fams:
        clean_family(f)
    S3 = (2, 5, 16)
    S4 = (2, 3, 3, 8)
    variants = [
        ("ln_axis_last", "ln", S3, {}),
        ("ln_axis_last_eps1e3", "ln", S3, {"epsilon": 1e-3}),
        ("ln_no_center", "ln", S3, {"center": False}),
        ("ln_no_scale", "ln", S3, {"scale": False}),
        ("ln_no_affine", "ln", S3, {"center": False, "scale": False}),
        ("ln_axis_123", "ln", S4, {"axis": [1, 2, 3]}),
        ("ln_axis_123_no_affine", "ln", S4, {"axis": [1, 2, 3], "center": False, "scale": False}),
        ("ln_axis_23", "ln", S4, {"axis": [2, 3]}),
        ("ln_rank2", "ln", (3, 16), {}),
        ("ln_nhwc_last", "conv_ln", S4, {}),
        ("dense_ln", "dense_ln", S3, {}),
        ("rms", "rms", S3, {}),
        ("encoder_block", "block", (2, 6, 16), {}),
        ("preln_block", "preln_block", (2, 6, 16), {}),
        ("neg_global_pool", "neg_pool", S3, {}),
        ("neg_batchnorm", "neg_batchnorm", S3, {}),
    ]
    for name, kind, shape, kw in variants:
        for K, fam in ((keras, "tf2onnx_keras3"), (tf_keras, "tf2onnx_keras2")):
            if kind == "rms" and K is tf_keras:
                continue
            keras.utils.set_random_seed(0)
            tf_keras.utils.set_random_seed(0)
            model = build(K, kind, shape, **kw)
            randomize(model, 7)
            sites = norm_layers(model)
            neg = kind.startswith("neg_")
            norm_kind = "rmsnorm" if kind == "rms" else ("none" if neg else "layernorm")
            rng = rng_for(fam, name)
            x = (rng.standard_normal(shape) * 2.0 + 0.5).astype(np.float32)
            opsets = (13, 17) if name in ("ln_axis_last", "encoder_block") else (15,)
            ver = f"keras {keras.__version__}" if K is keras else f"tf_keras {tf_keras.__version__}"
            for opset in opsets:
                for dyn in ((False, True) if name == "ln_axis_last" else (False,)):
                    case = f"{name}_op{opset}" + ("_dynbatch" if dyn else "")
                    proto = tf2onnx_export(model, shape, opset, dyn)
                    in_name = proto.graph.input[0].name
                    write_case(fam, case, proto, {in_name: x}, sites=sites, negative=neg,
                               norm_kind=norm_kind,
                               source=f"tensorflow {tf.__version__}, {ver}, tf2onnx "
                                      f"{tf2onnx.__version__} from_function(opset={opset}): "
                                      f"{kind} {kw}")
                    fams[fam].append(case)
            if K is keras:
                try:
                    proto = keras_export(model, shape, 17)
                except Exception as e:  # noqa: BLE001
                    print(f"keras3_export {name}: {type(e).__name__}: {e}"[:300])
                    continue
                in_name = proto.graph.input[0].name
                write_case("keras3_export", f"{name}", proto, {in_name: x}, sites=sites,
                           negative=neg, norm_kind=norm_kind,
                           source=f"tensorflow {tf.__version__}, {ver}, "
                                  f"model.export(format='onnx', opset_version=17): {kind} {kw}")
                fams["keras3_export"].append(name)
    for f, c in fams.items():
        report(f, c)


if __name__ == "__main__":
    main()
