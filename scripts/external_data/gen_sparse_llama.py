#!/usr/bin/env python3
"""Writes a LLaMA-shaped decoder graph whose fp16 weights live in a sparse external file.

The graph follows what the TorchScript exporter writes for a LLaMA decoder at opset 14:
every RMSNorm spelled out (Cast to f32, Pow 2, ReduceMean over the last axis, Add eps, Sqrt,
Div 1/x, Mul, Cast back to f16, Mul by the weight), single-head attention products, a SiLU MLP
and the residual Adds. The weight file is created with `truncate` semantics (a sparse file of
zeros, no disk used), so a 7B-shaped model costs nothing to generate; only the graph matters
to fusion, and the data matters to copy speed and memory.

Usage: gen_sparse_llama.py OUT_DIR [--layers 32] [--hidden 4096] [--mlp 11008] [--vocab 32000]
                           [--data-name weights.bin]
Writes OUT_DIR/model.onnx and OUT_DIR/<data-name>; prints the weight size.
"""
import argparse
import os

import onnx
from onnx import TensorProto, helper

ALIGN = 4096


class Weights:
    """Lays out external fp16 tensors in one file, each at an aligned offset."""

    def __init__(self, location):
        self.location = location
        self.size = 0
        self.tensors = []

    def add(self, name, dims):
        offset = -(-self.size // ALIGN) * ALIGN
        n = 2
        for d in dims:
            n *= d
        t = TensorProto()
        t.name = name
        t.data_type = TensorProto.FLOAT16
        t.dims.extend(dims)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", self.location), ("offset", str(offset)), ("length", str(n))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.tensors.append(t)
        self.size = offset + n
        return name


def build(layers, hidden, mlp, vocab, data_name):
    w = Weights(data_name)
    nodes = []
    inits = []
    count = [0]

    def fresh(prefix):
        count[0] += 1
        return f"{prefix}_{count[0]}"

    def node(op, inputs, **attrs):
        out = fresh(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(name, value, dtype=TensorProto.FLOAT):
        inits.append(helper.make_tensor(name, dtype, [], [value]))
        return name

    two = const("pow_two", 2.0)
    eps = const("rms_eps", 1e-6)
    one = const("one", 1.0)
    scale = const("attn_scale", 1.0 / (hidden ** 0.5), TensorProto.FLOAT16)

    def rms_norm(x, weight):
        xf = node("Cast", [x], to=TensorProto.FLOAT)
        sq = node("Pow", [xf, two])
        var = node("ReduceMean", [sq], axes=[-1], keepdims=1)
        ve = node("Add", [var, eps])
        sd = node("Sqrt", [ve])
        inv = node("Div", [one, sd])
        y = node("Mul", [xf, inv])
        yh = node("Cast", [y], to=TensorProto.FLOAT16)
        return node("Mul", [weight, yh])

    embed = w.add("embed_tokens.weight", [vocab, hidden])
    h = node("Gather", [embed, "input_ids"], axis=0)
    for i in range(layers):
        p = f"layers.{i}"
        x = rms_norm(h, w.add(f"{p}.input_layernorm.weight", [hidden]))
        q = node("MatMul", [x, w.add(f"{p}.self_attn.q_proj.weight", [hidden, hidden])])
        k = node("MatMul", [x, w.add(f"{p}.self_attn.k_proj.weight", [hidden, hidden])])
        v = node("MatMul", [x, w.add(f"{p}.self_attn.v_proj.weight", [hidden, hidden])])
        kt = node("Transpose", [k], perm=[0, 2, 1])
        s = node("Mul", [node("MatMul", [q, kt]), scale])
        a = node("MatMul", [node("Softmax", [s], axis=-1), v])
        o = node("MatMul", [a, w.add(f"{p}.self_attn.o_proj.weight", [hidden, hidden])])
        h = node("Add", [h, o])
        x = rms_norm(h, w.add(f"{p}.post_attention_layernorm.weight", [hidden]))
        g = node("MatMul", [x, w.add(f"{p}.mlp.gate_proj.weight", [hidden, mlp])])
        u = node("MatMul", [x, w.add(f"{p}.mlp.up_proj.weight", [hidden, mlp])])
        act = node("Mul", [node("Mul", [g, node("Sigmoid", [g])]), u])
        d = node("MatMul", [act, w.add(f"{p}.mlp.down_proj.weight", [mlp, hidden])])
        h = node("Add", [h, d])
    h = rms_norm(h, w.add("norm.weight", [hidden]))
    logits = node("MatMul", [h, w.add("lm_head.weight", [hidden, vocab])])
    graph = helper.make_graph(
        nodes,
        "llama_sparse",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT16, ["batch", "seq", vocab])],
        initializer=inits + w.tensors,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model, w.size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--mlp", type=int, default=11008)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--data-name", default="weights.bin")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    model, size = build(a.layers, a.hidden, a.mlp, a.vocab, a.data_name)
    data = os.path.join(a.out, a.data_name)
    with open(data, "wb") as f:
        f.truncate(size)  # sparse: no blocks allocated
    onnx.save(model, os.path.join(a.out, "model.onnx"))
    print(f"{a.out}: {len(model.graph.node)} nodes, {size / 2**30:.2f} GiB of fp16 weights in {data}")


if __name__ == "__main__":
    main()
