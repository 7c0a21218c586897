#!/usr/bin/env python3
"""Exports real-size transformers models (random weights) with the TorchScript exporter and
writes ONNX Runtime reference outputs, for checking lnopt's engines at real sizes.

Models: BERT-base (sequence 128), GPT-2 small (128), a LLaMA-style decoder (hidden 1024,
8 layers, MLP 2816, sequence 128). Each goes to OUT/<name>/model.onnx (+ model.onnx.data)
with test_data_set_0/{input_N.pb,output_N.pb} from ONNX Runtime (CPU, all optimisations).

Usage (needs torch, transformers, onnx, onnxruntime):
    python export.py OUT [--models bert,gpt2,llama] [--seq 128]
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from onnx import numpy_helper


def build(name):
    if name == "bert":
        cfg = transformers.BertConfig()
        return transformers.BertModel(cfg), cfg.vocab_size
    if name == "gpt2":
        cfg = transformers.GPT2Config(use_cache=False)
        return transformers.GPT2Model(cfg), cfg.vocab_size
    if name == "llama":
        cfg = transformers.LlamaConfig(hidden_size=1024, intermediate_size=2816,
                                       num_hidden_layers=8, num_attention_heads=16,
                                       num_key_value_heads=16, use_cache=False)
        return transformers.LlamaModel(cfg), cfg.vocab_size
    raise SystemExit(f"unknown model {name}")


class LastHidden(torch.nn.Module):
    """The model's last hidden state from token ids and an attention mask (passing the mask
    keeps transformers from tracing its packed-sequence detection, which uses aten::diff)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids, mask):
        return self.m(input_ids=ids, attention_mask=mask).last_hidden_state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="bert,gpt2,llama")
    ap.add_argument("--seq", type=int, default=128)
    a = ap.parse_args()
    torch.manual_seed(0)
    for name in a.models.split(","):
        model, vocab = build(name)
        model.eval()
        wrapped = LastHidden(model)
        ids = torch.randint(0, vocab, (1, a.seq), dtype=torch.int64)
        mask = torch.ones((1, a.seq), dtype=torch.int64)
        d = os.path.join(a.out, name)
        os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
        path = os.path.join(d, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(wrapped, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], opset_version=14,
                              dynamo=False)
        m = onnx.load(path)
        onnx.save(m, path, save_as_external_data=True, location="model.onnx.data")
        so = ort.SessionOptions()
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        names = [i.name for i in sess.get_inputs()]
        out = sess.run(None, {n: feeds[n] for n in names})
        for i, n in enumerate(names):
            with open(os.path.join(d, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(feeds[n], n).SerializeToString())
        for i, o in enumerate(out):
            with open(os.path.join(d, "test_data_set_0", f"output_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(np.asarray(o), f"out{i}").SerializeToString())
        print(f"{name}: {len(m.graph.node)} nodes, ops {sorted(set(n.op_type for n in m.graph.node))}")


if __name__ == "__main__":
    main()
