#!/usr/bin/env python3
"""fixtures/exporters/keras_hub: keras_hub backbones (BERT, DistilBERT, RoBERTa, ALBERT, ELECTRA,
DeBERTa-v3, GPT-2, GPT-NeoX, OPT, BLOOM, Falcon, Llama, Mistral, Mixtral, Phi-3, Qwen, Qwen3,
Qwen3-MoE, Gemma and a Gemma 2-style configuration, Gemma 3, T5, BART, Whisper, ViT, DINOv2, Swin;
BERT, GPT-2, Llama and Gemma also under Keras' mixed_float16 policy) built from their
constructors with tiny sizes and random weights (no preset is loaded: 2 layers, or 1 per side for
the encoder-decoders; hidden 32; vocabulary 96; batch 2, sequence 8).

Cases per model: `<model>_tf2onnx_op17` (tf2onnx `from_function` of the backbone with its dict of
inputs, batch and sequence left unknown as the backbone declares them) and `<model>_keras_export`
(Keras 3's own `model.export(format="onnx")`, which runs tf2onnx itself: kept for BERT, GPT-2,
Llama and Gemma, and for the others only when its graph differs from the tf2onnx case); BERT,
GPT-2, Llama and Gemma also as `<model>_tf2onnx_op15_static` (static shapes, opset 15).

Needs (own virtualenv, see README.md): tensorflow-cpu, keras, keras-hub, tf2onnx, onnx, onnxruntime.
Run: KERAS_BACKEND=tensorflow python gen_keras_hub.py [MODEL ...] (no argument: the whole family,
rewritten from scratch). Weights, inputs and reference outputs depend only on the model; node
names and order also on what ran before in the process (tf2onnx numbers the names it makes), so
the committed cases are those of a whole-family run.

The site count is the number of norm-layer *calls* in one eager forward pass of the backbone
(ALBERT calls its one shared layer twice) whose input depends on the model's inputs. A norm of
weights alone (DeBERTa-v3's relative-embedding LayerNorm) is folded into a constant by the
exporter and leaves no site; meta.json keeps `framework_norm_calls` and says why. Counted are
Keras' LayerNormalization / RMSNormalization and keras_hub's own RMSNorm-type layers
(LlamaLayerNorm, Gemma's RMSNormalization, T5LayerNorm, Qwen3's query / key norms, ...), by
wrapping their `call` while the model runs (a norm whose `call` calls another norm counts once).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnx.numpy_helper  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

import keras  # noqa: E402
import keras_hub  # noqa: E402

from tf2onnx import utils as tf2onnx_utils  # noqa: E402
from tf2onnx.handler import tf_op  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, clean_family, op_histogram, report, rng_for, write_case  # noqa: E402


@tf_op("Erfc")
class _Erfc:
    """tf2onnx 1.17 has no handler for TF's Erfc, which TF 2.21 uses for the exact GELU
    (`0.5 x erfc(-x / sqrt 2)`, DistilBERT, RoBERTa, ...): written as `1 - Erf(x)`. This only
    lets those backbones convert; no norm goes through it."""

    @classmethod
    def version_9(cls, ctx, node, **kwargs):
        dtype = tf2onnx_utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
        one = ctx.make_const(tf2onnx_utils.make_name("erfc_one"), np.array(1, dtype=dtype))
        erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
        node.type = "Sub"
        ctx.replace_inputs(node, [one.output[0], erf.output[0]])


FAMILY = "keras_hub"
VOCAB = 96
SEQ = 8
BATCH = 2

# Norm layer classes, by class name: Keras' own and keras_hub's per-model RMSNorm layers.
NORM_CLASS_NAMES = {
    "LayerNormalization", "RMSNormalization", "LlamaLayerNorm", "MistralLayerNormalization",
    "Phi3LayerNorm", "QwenLayerNorm", "Qwen3LayerNorm", "T5LayerNorm",
    "MixtralLayerNormalization", "QwenMoeLayerNorm", "Qwen3MoeLayerNorm",
    "GptOssLayerNormalization",
}
# Layer classes whose name says "Norm" but that are not a LayerNorm / RMSNorm. A layer class
# named "...Norm..." in neither set stops the generator (it would be a site left uncounted).
NOT_NORMS = {"BatchNormalization", "GroupNormalization", "UnitNormalization"}


def lm(cls, **kw):
    return lambda **extra: cls(vocabulary_size=VOCAB, **kw, **extra)


H = 32
IM = 48
MODELS = {
    # name: (constructor, norm kind)
    "bert": (lm(keras_hub.models.BertBackbone, num_layers=2, num_heads=2, hidden_dim=H,
                intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "distil_bert": (lm(keras_hub.models.DistilBertBackbone, num_layers=2, num_heads=2,
                       hidden_dim=H, intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "roberta": (lm(keras_hub.models.RobertaBackbone, num_layers=2, num_heads=2, hidden_dim=H,
                   intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "albert": (lm(keras_hub.models.AlbertBackbone, num_layers=2, num_heads=2, embedding_dim=16,
                  hidden_dim=H, intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "electra": (lambda **extra: keras_hub.models.ElectraBackbone(
        vocab_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=H, embedding_dim=16,
        intermediate_dim=IM, max_sequence_length=16, **extra), "layernorm"),
    "gpt2": (lm(keras_hub.models.GPT2Backbone, num_layers=2, num_heads=2, hidden_dim=H,
                intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "gpt_neo_x": (lm(keras_hub.models.GPTNeoXBackbone, num_layers=2, num_heads=2, hidden_dim=H,
                     intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "opt": (lm(keras_hub.models.OPTBackbone, num_layers=2, num_heads=2, hidden_dim=H,
               intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "bloom": (lm(keras_hub.models.BloomBackbone, num_layers=2, num_heads=2, hidden_dim=H,
                 intermediate_dim=IM), "layernorm"),
    "falcon": (lm(keras_hub.models.FalconBackbone, num_layers=2, num_attention_heads=2,
                  hidden_dim=H, intermediate_dim=IM), "layernorm"),
    "llama": (lm(keras_hub.models.LlamaBackbone, num_layers=2, num_query_heads=4,
                 num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM), "rmsnorm"),
    "mistral": (lm(keras_hub.models.MistralBackbone, num_layers=2, num_query_heads=4,
                   num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM,
                   sliding_window=4), "rmsnorm"),
    "phi3": (lm(keras_hub.models.Phi3Backbone, num_layers=2, num_query_heads=4,
                num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM,
                max_sequence_length=16, pretraining_sequence_length=16), "rmsnorm"),
    "qwen": (lm(keras_hub.models.QwenBackbone, num_layers=2, num_query_heads=4,
                num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM), "rmsnorm"),
    "qwen3": (lm(keras_hub.models.Qwen3Backbone, num_layers=2, num_query_heads=4,
                 num_key_value_heads=2, head_dim=8, hidden_dim=H, intermediate_dim=IM),
              "rmsnorm"),
    "gemma": (lm(keras_hub.models.GemmaBackbone, num_layers=2, num_query_heads=4,
                 num_key_value_heads=1, hidden_dim=H, intermediate_dim=IM, head_dim=8),
              "rmsnorm"),
    "gemma2_style": (lm(keras_hub.models.GemmaBackbone, num_layers=2, num_query_heads=4,
                        num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM, head_dim=8,
                        use_post_ffw_norm=True, use_post_attention_norm=True,
                        attention_logit_soft_cap=50.0, final_logit_soft_cap=30.0), "rmsnorm"),
    "t5": (lm(keras_hub.models.T5Backbone, num_heads=2, hidden_dim=H,
              intermediate_dim=IM, key_value_dim=16), "rmsnorm"),
    "bart": (lm(keras_hub.models.BartBackbone, num_heads=2, hidden_dim=H,
                intermediate_dim=IM, max_sequence_length=16), "layernorm"),
    "vit": (lambda **extra: keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2, hidden_dim=H,
        mlp_dim=IM, **extra), "layernorm"),
    "gemma3": (lambda **extra: keras_hub.models.Gemma3Backbone(
        vocabulary_size=VOCAB, image_size=16, num_layers=2, num_query_heads=4,
        num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM, head_dim=8,
        use_post_ffw_norm=True, use_post_attention_norm=True, **extra), "rmsnorm"),
    "mixtral": (lm(keras_hub.models.MixtralBackbone, num_layers=2, num_query_heads=4,
                   num_key_value_heads=2, hidden_dim=H, intermediate_dim=IM, num_experts=2,
                   sliding_window=4), "rmsnorm"),
    "qwen3_moe": (lm(keras_hub.models.Qwen3MoeBackbone, num_layers=2, num_query_heads=4,
                     num_key_value_heads=2, head_dim=8, hidden_dim=H, intermediate_dim=IM,
                     moe_intermediate_dim=16, num_experts=2, top_k=1), "rmsnorm"),
    "deberta_v3": (lm(keras_hub.models.DebertaV3Backbone, num_layers=2, num_heads=2,
                      hidden_dim=H, intermediate_dim=IM, max_sequence_length=16,
                      bucket_size=4), "layernorm"),
    "whisper": (lm(keras_hub.models.WhisperBackbone, num_layers=1, num_heads=2, hidden_dim=H,
                   intermediate_dim=IM, num_mels=8, max_encoder_sequence_length=2 * SEQ,
                   max_decoder_sequence_length=SEQ), "layernorm"),
    "dinov2": (lambda **extra: keras_hub.models.DINOV2Backbone(
        patch_size=4, num_layers=2, hidden_dim=H, num_heads=2, intermediate_dim=IM,
        image_shape=(16, 16, 3), position_embedding_shape=(16, 16, 3), **extra), "layernorm"),
    "swin": (lambda **extra: keras_hub.models.SwinTransformerBackbone(
        image_shape=(16, 16, 3), embed_dim=16, depths=[2, 1], num_heads=[2, 2], window_size=2,
        patch_size=2, mlp_ratio=2.0, drop_path=0.0, **extra), "layernorm"),
}
# Not generated: MiTBackbone (SegFormer's encoder): ONNX Runtime cannot run tf2onnx's export
# of it (a MatMul whose operands do not broadcast).
# Encoder-decoders (twice the weights) get one layer each side to keep the cases small.
for _m in ("t5", "bart"):
    _ctor, _kind = MODELS[_m]
    MODELS[_m] = ((lambda c: lambda **extra: c(num_layers=1, **extra))(_ctor), _kind)
# The same backbones under Keras' mixed_float16 policy (float16 compute, float32 variables):
# every norm layer then computes in float32 between Casts. (Not T5: keras_hub's T5 returns NaN
# for every element under mixed_float16, in its own eager forward pass.)
MIXED = ("bert", "gpt2", "llama", "gemma")
for _m in MIXED:
    _ctor, _kind = MODELS[_m]
    MODELS[f"{_m}_mixed_f16"] = ((lambda c: lambda: c(dtype="mixed_float16"))(_ctor), _kind)
# Models whose Keras 3 `model.export` case is kept even when its graph has the same ops as the
# tf2onnx case (for the others it is written only when it differs).
CORE = ("bert", "gpt2", "llama", "gemma")
# Models also exported with static shapes at opset 15 (tf2onnx then folds the shape arithmetic).
STATIC = ("bert", "gpt2", "llama", "gemma")


def _is_norm(layer) -> bool:
    name = type(layer).__name__
    if "Norm" in name and name not in NORM_CLASS_NAMES and name not in NOT_NORMS:
        raise ValueError(f"unclassified norm-like layer class {name} ({layer.path})")
    return name in NORM_CLASS_NAMES


class NormCallCounter:
    """Counts norm-layer calls while active: wraps `call` of every norm class in the model
    (outermost call only, so a norm built on another norm counts once) and keeps each call's
    layer and input, in call order."""

    def __init__(self, model):
        self.classes = {type(l) for l in model._flatten_layers(include_self=False) if _is_norm(l)}
        self.count = 0
        self.calls: list[tuple[str, np.ndarray]] = []
        self._depth = threading.local()
        self._saved = {}

    def __enter__(self):
        for cls in self.classes:
            orig = cls.__dict__.get("call")
            if orig is None:  # inherited: wrap the resolved method on this class
                orig = cls.call
            self._saved[cls] = cls.__dict__.get("call")
            cls.call = self._wrap(orig)
        return self

    def _wrap(self, orig):
        counter = self

        def call(layer, *a, **kw):
            d = getattr(counter._depth, "v", 0)
            if d == 0:
                counter.count += 1
                counter.calls.append((layer.path, np.asarray(a[0])))
            counter._depth.v = d + 1
            try:
                return orig(layer, *a, **kw)
            finally:
                counter._depth.v = d

        return call

    def __exit__(self, *exc):
        for cls, saved in self._saved.items():
            if saved is None:
                del cls.call
            else:
                cls.call = saved


def run(model, inputs: dict):
    """Calls the backbone on its inputs by name: as a dict when the model takes one (the text
    backbones), else the single tensor (image backbones with an unnamed input)."""
    if isinstance(model.input, dict):
        return model(inputs, training=False)
    (x,) = inputs.values()
    return model(x, training=False)


def count_sites(model, feeds: dict[str, np.ndarray]) -> tuple[int, list[str]]:
    """Norm calls of one forward pass whose input depends on the model's inputs, and the
    layers of those that do not. A norm applied to weights alone (DeBERTa-v3's LayerNorm of
    its relative position embeddings) has the same input for any feed; exporters fold it into
    a constant, so no site is left in the graph. Found by running two different feeds of the
    same shapes and comparing each call's input."""
    other = {}
    for k, v in feeds.items():
        if "mask" in k or "segment" in k:
            other[k] = v
        elif v.dtype.kind == "i":  # token ids in [1, VOCAB): every id moved by one
            other[k] = (v % (VOCAB - 1) + 1).astype(v.dtype)
        else:
            other[k] = (v * 1.5 + 0.25).astype(v.dtype)
    runs = []
    for f in (feeds, other):
        with NormCallCounter(model) as c:
            run(model, f)
        runs.append(c.calls)
    if [p for p, _ in runs[0]] != [p for p, _ in runs[1]]:
        raise ValueError("norm calls differ between two feeds of the same shapes")
    folded = [p for (p, a), (_, b) in zip(*runs) if a.shape == b.shape and np.array_equal(a, b)]
    return len(runs[0]) - len(folded), folded


def randomize(model, seed: int) -> None:
    """Non-trivial norm weights (keras_hub initialises scales to ones or zeros, biases to zeros)."""
    rng = np.random.default_rng(seed)
    for l in model._flatten_layers(include_self=False):
        if not _is_norm(l):
            continue
        for w in l.weights:
            base = 1.0 if any(k in w.path for k in ("gamma", "scale", "weight")) else 0.0
            if type(l).__module__.endswith("gemma.rms_normalization"):
                base = 0.0  # Gemma's scale is applied as (1 + scale)
            w.assign((base + 0.2 * rng.standard_normal(tuple(w.shape))).astype(w.dtype))


def feeds_for(model, family: str, case: str) -> dict[str, np.ndarray]:
    """Deterministic in-range inputs for each backbone input."""
    rng = rng_for(family, case)
    out = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        shape = [BATCH] + [SEQ if d is None else d for d in t.shape[1:]]
        if "mask" in name:
            m = np.ones(shape, dtype=np.int32)
            m[1, -3:] = 0  # second row padded
            out[name] = m
        elif "segment" in name:
            s = np.zeros(shape, dtype=np.int32)
            s[:, shape[1] // 2:] = 1
            out[name] = s
        elif "token" in name:
            out[name] = rng.integers(1, VOCAB, size=shape).astype(np.int32)
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def specs(model, dynamic: bool):
    sp = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        dims = list(t.shape)  # the backbone's own: batch (and sequence) unknown
        if not dynamic:
            dims = [BATCH] + [SEQ if d is None else d for d in t.shape[1:]]
        sp[name] = tf.TensorSpec(dims, tf.as_dtype(t.dtype), name=name)
    return sp


def captured_constants(model) -> dict[str, np.ndarray]:
    """Constant tensors the traced backbone captures by value (e.g. Gemma's `sqrt(hidden_dim)`
    embedding scale, ViT's position ids), by the name of their placeholder in the trace."""
    sp = specs(model, True)
    names = list(sp)
    tfn = tf.function(lambda *a: run(model, dict(zip(names, a))),
                      input_signature=[sp[n] for n in names])
    cf = tfn.get_concrete_function()
    return {inner.name: outer.numpy() for outer, inner in
            zip(cf.captured_inputs, cf.graph.internal_captures) if outer.dtype != tf.resource}


def freeze_captures(proto: onnx.ModelProto, consts: dict[str, np.ndarray],
                    feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    """tf2onnx 1.17 leaves a by-value capture of a constant tensor as a graph input (its
    placeholder) instead of freezing it: make each such input the initializer of its
    captured value, as freezing would. Any other unexpected input is an error."""
    for inp in list(proto.graph.input):
        if inp.name in feeds or inp.name.split(":")[0] in feeds:
            continue
        if inp.name not in consts:
            raise ValueError(f"graph input {inp.name} is neither fed nor a captured constant")
        proto.graph.input.remove(inp)
        proto.graph.initializer.append(onnx.numpy_helper.from_array(consts[inp.name], inp.name))
    return proto


def tf2onnx_export(model, dynamic: bool, opset: int) -> onnx.ModelProto:
    sp = specs(model, dynamic)
    names = list(sp)

    def fn(*args):
        out = run(model, dict(zip(names, args)))
        return out

    tfn = tf.function(fn, input_signature=[sp[n] for n in names])
    proto, _ = tf2onnx.convert.from_function(tfn, input_signature=[sp[n] for n in names],
                                             opset=opset)
    return proto


def keras_export(model, opset: int) -> onnx.ModelProto:
    sp = specs(model, True)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.onnx")
        model.export(p, format="onnx", verbose=False, opset_version=opset,
                     input_signature=[dict(sp) if isinstance(model.input, dict)
                                      else next(iter(sp.values()))])
        return onnx.load(p)


def main(argv: list[str]) -> None:
    names = argv or list(MODELS)
    if not argv:
        clean_family(FAMILY)
    cases = []
    failures = []
    for name in names:
        make, kind = MODELS[name]
        keras.utils.set_random_seed(0)
        model = make()
        randomize(model, 7)
        feeds = feeds_for(model, FAMILY, name)
        sites, folded = count_sites(model, feeds)
        consts = captured_constants(model)
        ver = (f"tensorflow {tf.__version__}, keras {keras.__version__}, "
               f"keras_hub {keras_hub.__version__}")
        cfg = model.get_config()
        desc = (f"{type(model).__name__}(" + ", ".join(
            f"{k}={cfg[k]}" for k in ("num_layers", "hidden_dim", "intermediate_dim", "mlp_dim")
            if k in cfg) + f", dtype policy {model.dtype_policy.name}), random weights")
        tf2onnx_src = f"{ver}, tf2onnx {tf2onnx.__version__} from_function"
        exports = [
            (f"{name}_tf2onnx_op17", lambda: tf2onnx_export(model, True, 17),
             f"{tf2onnx_src}(opset=17, the backbone's input shapes: batch, sequence unknown)"),
            (f"{name}_keras_export", lambda: keras_export(model, 17),
             f"{ver}, model.export(format='onnx', opset_version=17)"),
        ]
        if name in STATIC:
            exports.append((f"{name}_tf2onnx_op15_static", lambda: tf2onnx_export(model, False, 15),
                            f"{tf2onnx_src}(opset=15, static shapes)"))
        written = {}
        for case, export, src in exports:
            try:
                proto = freeze_captures(export(), consts, feeds)
            except Exception as e:  # noqa: BLE001
                msg = f"{case}: {type(e).__name__}: {e}"[:400]
                print(msg)
                failures.append(msg)
                continue
            hist = op_histogram(proto)
            if case.endswith("_keras_export") and name not in CORE \
                    and hist == written.get(f"{name}_tf2onnx_op17"):
                # Keras 3's export runs tf2onnx itself: the same graph (names aside) as the
                # tf2onnx case, so it is checked but not kept.
                print(f"{case}: same ops as {name}_tf2onnx_op17, not written")
                continue
            inputs = {i.name for i in proto.graph.input}
            f = {(k if k in inputs else next(n for n in inputs if n.split(":")[0] == k)): v
                 for k, v in feeds.items()}
            notes = ""
            if folded:
                notes = (f"{len(folded)} more norm call(s) in the framework ({', '.join(folded)}) "
                         "normalise weights only (the same input for every feed): the exporter "
                         "folds them into a constant, so they are not sites of the graph")
            try:
                write_case(FAMILY, case, proto, f, sites=sites, norm_kind=kind,
                           source=f"{src}: {desc}", notes=notes,
                           extra={"framework_norm_calls": sites + len(folded)})
            except Exception as e:  # noqa: BLE001 - e.g. ONNX Runtime cannot run the export
                shutil.rmtree(CORPUS / FAMILY / case, ignore_errors=True)
                msg = f"{case}: {type(e).__name__}: {e}"[:400]
                print(msg)
                failures.append(msg)
                continue
            written[case] = hist
            cases.append(case)
        print(f"{name}: {sites} norm calls" + (f" (+ {len(folded)} on weights only: "
                                                f"{', '.join(folded)})" if folded else ""))
    report(FAMILY, cases)
    for f in failures:
        print("not generated:", f)


if __name__ == "__main__":
    main(sys.argv[1:])
