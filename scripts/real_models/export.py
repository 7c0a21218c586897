#!/usr/bin/env python3
"""Exports real-size transformers models (random weights) with the TorchScript exporter and
writes ONNX Runtime reference outputs, for checking lnopt's engines at real sizes.

Models: BERT-base (sequence 128), GPT-2 small (128), a LLaMA-style decoder (hidden 1024,
8 layers, MLP 2816, sequence 128), ViT-B/16 (224×224) and the Whisper-base encoder (3000
frames). Each goes to OUT/<name>/model.onnx (+ model.onnx.data)
with test_data_set_0/{input_N.pb,output_N.pb} from ONNX Runtime (CPU, all optimisations).

Usage (needs torch, transformers, onnx, onnxruntime):
    python export.py OUT [--models bert,gpt2,llama,vit,whisper] [--seq 128]
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
    if name == "vit":
        cfg = transformers.ViTConfig()
        return transformers.ViTModel(cfg, add_pooling_layer=False), None
    if name == "whisper":
        cfg = transformers.WhisperConfig.from_dict(WHISPER_BASE)
        return transformers.WhisperModel(cfg).get_encoder(), None
    raise SystemExit(f"unknown model {name}")


# The Whisper-base configuration (openai/whisper-base), spelled out: no hub is reachable.
WHISPER_BASE = dict(d_model=512, encoder_layers=6, encoder_attention_heads=8,
                    decoder_layers=6, decoder_attention_heads=8, encoder_ffn_dim=2048,
                    decoder_ffn_dim=2048, num_mel_bins=80, max_source_positions=1500,
                    vocab_size=51865)


class Features(torch.nn.Module):
    """The last hidden state of a model fed one float tensor (pixels or log-mel frames)."""

    def __init__(self, m, arg):
        super().__init__()
        self.m = m
        self.arg = arg

    def forward(self, x):
        return self.m(**{self.arg: x}).last_hidden_state


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
    ap.add_argument("--models", default="bert,gpt2,llama,vit,whisper")
    ap.add_argument("--seq", type=int, default=128)
    a = ap.parse_args()
    torch.manual_seed(0)
    for name in a.models.split(","):
        model, vocab = build(name)
        model.eval()
        if name == "vit":
            wrapped = Features(model, "pixel_values")
            args, input_names = (torch.randn(1, 3, 224, 224),), ["pixel_values"]
            feeds = {"pixel_values": args[0].numpy()}
        elif name == "whisper":
            wrapped = Features(model, "input_features")
            args, input_names = (torch.randn(1, 80, 3000),), ["input_features"]
            feeds = {"input_features": args[0].numpy()}
        else:
            wrapped = LastHidden(model)
            ids = torch.randint(0, vocab, (1, a.seq), dtype=torch.int64)
            mask = torch.ones((1, a.seq), dtype=torch.int64)
            args, input_names = (ids, mask), ["input_ids", "attention_mask"]
            feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        d = os.path.join(a.out, name)
        os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
        path = os.path.join(d, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(wrapped, args, path, input_names=input_names,
                              output_names=["last_hidden_state"], opset_version=14,
                              dynamo=False)
        m = onnx.load(path)
        onnx.save(m, path, save_as_external_data=True, location="model.onnx.data")
        so = ort.SessionOptions()
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
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
