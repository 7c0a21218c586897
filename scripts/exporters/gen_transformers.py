#!/usr/bin/env python3
"""fixtures/exporters/{transformers, transformers_dynamo}: one case per transformers model
family, built from a tiny config with random weights (no hub), exported by PyTorch's TorchScript
exporter at opset 14 (`transformers/`) and, for the decoder-only RMSNorm families, by the dynamo
exporter at opset 18 (`transformers_dynamo/`: LayerNorm arrives native there, RMSNorm does not).

The families span the norm spellings transformers writes by hand: nn.LayerNorm (BERT-likes,
GPT-likes, ViT-likes, enc-dec), LLaMA-style RMSNorm (f32 upcast, weight after the cast back),
Gemma's (1 + weight) RMSNorm, T5's RMS LayerNorm, Nemotron's
LayerNorm1P (1 + weight), OLMo's parameter-free LayerNorm, the per-head q/k norms of Qwen3
and OLMo2, and the conv-feature LayerNorm of Wav2Vec2 (over channels, via a transpose).

Truth: the forward calls of norm modules (class names containing LayerNorm / RMSNorm /
RmsNorm, innermost) whose output depends on the model's inputs — counted by running the model
on two different inputs and comparing each call's output (a norm of weights alone is folded
into a constant by the exporter and is no site). Run in the torch virtualenv:
python gen_transformers.py [NAME ...].
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clean_family, report, rng_for, write_case  # noqa: E402
from gen_torch import NORM, graph_feeds, randomize_norms, torchscript_export  # noqa: E402

warnings.filterwarnings("ignore")

TEXT = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64)
GQA = dict(TEXT, num_key_value_heads=1, head_dim=16)
VISION = dict(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
              num_attention_heads=2, intermediate_size=64)
SEQ2SEQ = dict(vocab_size=128, d_model=32, encoder_layers=2, decoder_layers=2,
               encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
               decoder_ffn_dim=64, max_position_embeddings=64, pad_token_id=1,
               decoder_start_token_id=2)
T5 = dict(vocab_size=128, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
          decoder_start_token_id=0)
SWIN = dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
            window_size=4)
AUDIO = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
             num_feat_extract_layers=2, feat_extract_norm="layer", num_conv_pos_embeddings=4,
             num_conv_pos_embedding_groups=2)

# (case, config class, config kwargs, inputs, norm kind). Inputs: "text" (input_ids,
# attention_mask), "ids" (input_ids only), "seq2seq" (+ decoder_input_ids), "image"
# (pixel_values), "audio" (input_values), "mel" (input_features), "clip" (text + image).
SPECS = [
    # encoders, nn.LayerNorm
    ("bert", "BertConfig", TEXT, "text", "layernorm"),
    ("roberta", "RobertaConfig", dict(TEXT, pad_token_id=1), "text", "layernorm"),
    ("xlm_roberta", "XLMRobertaConfig", dict(TEXT, pad_token_id=1), "text", "layernorm"),
    ("camembert", "CamembertConfig", dict(TEXT, pad_token_id=1), "text", "layernorm"),
    ("distilbert", "DistilBertConfig", dict(vocab_size=128, dim=32, n_layers=2, n_heads=2,
                                            hidden_dim=64, max_position_embeddings=64),
     "text", "layernorm"),
    ("albert", "AlbertConfig", dict(TEXT, embedding_size=16), "text", "layernorm"),
    ("electra", "ElectraConfig", dict(TEXT, embedding_size=16), "text", "layernorm"),
    ("deberta", "DebertaConfig", TEXT, "text", "layernorm"),
    ("deberta_v2", "DebertaV2Config", TEXT, "text", "layernorm"),
    ("mpnet", "MPNetConfig", TEXT, "text", "layernorm"),
    ("megatron_bert", "MegatronBertConfig", TEXT, "text", "layernorm"),
    ("roformer", "RoFormerConfig", dict(TEXT, embedding_size=32), "text", "layernorm"),
    ("ernie", "ErnieConfig", TEXT, "text", "layernorm"),
    ("esm", "EsmConfig", dict(TEXT, pad_token_id=1, mask_token_id=2), "text", "layernorm"),
    ("convbert", "ConvBertConfig", dict(TEXT, embedding_size=32), "text", "layernorm"),
    ("squeezebert", "SqueezeBertConfig", dict(TEXT, embedding_size=32, q_groups=2, k_groups=2,
                                              v_groups=2, post_attention_groups=2,
                                              intermediate_groups=2, output_groups=2),
     "text", "layernorm"),
    ("layoutlm", "LayoutLMConfig", TEXT, "text", "layernorm"),
    ("xlnet", "XLNetConfig", dict(vocab_size=128, d_model=32, n_layer=2, n_head=2, d_inner=64),
     "text", "layernorm"),
    # decoders, nn.LayerNorm and relatives
    ("gpt2", "GPT2Config", dict(vocab_size=128, n_embd=32, n_layer=2, n_head=2, n_positions=64),
     "text", "layernorm"),
    ("gpt_neo", "GPTNeoConfig", dict(vocab_size=128, hidden_size=32, num_layers=2, num_heads=2,
                                     attention_types=[[["global", "local"], 1]],
                                     max_position_embeddings=64, window_size=4),
     "text", "layernorm"),
    ("gpt_neox", "GPTNeoXConfig", TEXT, "text", "layernorm"),
    ("gptj", "GPTJConfig", dict(vocab_size=128, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                rotary_dim=8), "text", "layernorm"),
    ("codegen", "CodeGenConfig", dict(vocab_size=128, n_embd=32, n_layer=2, n_head=2,
                                      n_positions=64, rotary_dim=8), "text", "layernorm"),
    ("opt", "OPTConfig", dict(vocab_size=128, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=2, ffn_dim=64, max_position_embeddings=64,
                              word_embed_proj_dim=32), "text", "layernorm"),
    ("bloom", "BloomConfig", dict(vocab_size=128, hidden_size=32, n_layer=2, n_head=2),
     "text", "layernorm"),
    ("falcon", "FalconConfig", dict(vocab_size=128, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2), "text", "layernorm"),
    ("phi", "PhiConfig", TEXT, "text", "layernorm"),
    ("starcoder2", "Starcoder2Config", dict(TEXT, num_key_value_heads=1), "text", "layernorm"),
    ("persimmon", "PersimmonConfig", TEXT, "text", "layernorm"),
    ("biogpt", "BioGptConfig", TEXT, "text", "layernorm"),
    ("xglm", "XGLMConfig", dict(vocab_size=128, d_model=32, num_layers=2, attention_heads=2,
                                ffn_dim=64, max_position_embeddings=64), "text", "layernorm"),
    ("mpt", "MptConfig", dict(vocab_size=128, d_model=32, n_layers=2, n_heads=2,
                              max_seq_len=64), "text", "layernorm"),
    ("nemotron", "NemotronConfig", GQA, "text", "layernorm"),
    ("olmo", "OlmoConfig", TEXT, "text", "layernorm"),
    # decoders, RMSNorm
    ("llama", "LlamaConfig", GQA, "text", "rmsnorm"),
    ("mistral", "MistralConfig", GQA, "text", "rmsnorm"),
    ("qwen2", "Qwen2Config", dict(TEXT, num_key_value_heads=1), "text", "rmsnorm"),
    ("qwen3", "Qwen3Config", GQA, "text", "rmsnorm"),
    ("gemma", "GemmaConfig", GQA, "text", "rmsnorm"),
    ("gemma2", "Gemma2Config", GQA, "text", "rmsnorm"),
    ("gemma3_text", "Gemma3TextConfig", dict(GQA, sliding_window=4), "text", "rmsnorm"),
    ("phi3", "Phi3Config", dict(TEXT, pad_token_id=0), "text", "rmsnorm"),
    ("granite", "GraniteConfig", GQA, "text", "rmsnorm"),
    ("olmo2", "Olmo2Config", TEXT, "text", "rmsnorm"),
    ("smollm3", "SmolLM3Config", dict(GQA, pad_token_id=0), "text", "rmsnorm"),
    # encoder-decoders
    ("t5", "T5Config", T5, "seq2seq", "rmsnorm"),
    ("mt5", "MT5Config", T5, "seq2seq", "rmsnorm"),
    ("bart", "BartConfig", SEQ2SEQ, "seq2seq", "layernorm"),
    ("mbart", "MBartConfig", SEQ2SEQ, "seq2seq", "layernorm"),
    ("pegasus", "PegasusConfig", SEQ2SEQ, "seq2seq", "layernorm"),
    ("marian", "MarianConfig", SEQ2SEQ, "seq2seq", "layernorm"),
    ("m2m_100", "M2M100Config", SEQ2SEQ, "seq2seq", "layernorm"),
    ("blenderbot", "BlenderbotConfig", SEQ2SEQ, "seq2seq", "layernorm"),
    # vision
    ("vit", "ViTConfig", VISION, "image", "layernorm"),
    ("deit", "DeiTConfig", VISION, "image", "layernorm"),
    ("beit", "BeitConfig", dict(VISION, vocab_size=128), "image", "layernorm"),
    ("dinov2", "Dinov2Config", VISION, "image", "layernorm"),
    ("swin", "SwinConfig", SWIN, "image", "layernorm"),
    ("swinv2", "Swinv2Config", SWIN, "image", "layernorm"),
    ("convnext", "ConvNextConfig", dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2),
     "image", "layernorm"),
    ("convnextv2", "ConvNextV2Config", dict(hidden_sizes=[8, 16], depths=[1, 1],
                                            num_stages=2), "image", "layernorm"),
    ("segformer", "SegformerConfig", dict(num_encoder_blocks=2, depths=[1, 1],
                                          sr_ratios=[2, 1], hidden_sizes=[16, 32],
                                          num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                                          strides=[4, 2], patch_sizes=[7, 3]),
     "image", "layernorm"),
    ("siglip_vision", "SiglipVisionConfig", VISION, "image", "layernorm"),
    ("clip_vision", "CLIPVisionConfig", VISION, "image", "layernorm"),
    ("clip_text", "CLIPTextConfig", dict(TEXT, projection_dim=32), "text", "layernorm"),
    # audio
    ("wav2vec2", "Wav2Vec2Config", dict(AUDIO, do_stable_layer_norm=True), "audio",
     "layernorm"),
    ("hubert", "HubertConfig", AUDIO, "audio", "layernorm"),
    ("whisper", "WhisperConfig", dict(vocab_size=128, d_model=32, encoder_layers=2,
                                      decoder_layers=2, encoder_attention_heads=2,
                                      decoder_attention_heads=2, encoder_ffn_dim=64,
                                      decoder_ffn_dim=64, num_mel_bins=16,
                                      max_source_positions=16, max_target_positions=32,
                                      pad_token_id=1, decoder_start_token_id=2),
     "mel_seq2seq", "layernorm"),
]

# Families whose RMSNorm the dynamo exporter (opset 18) also writes out, op by op.
DYNAMO = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo2", "t5"]


def inputs_for(kind: str, config, variant: int) -> dict[str, torch.Tensor]:
    """Model inputs of one kind; `variant` 1 is a second, different draw (for the truth)."""
    rng = rng_for("transformers", f"{kind}/{variant}")
    ids = lambda s: torch.from_numpy(rng.integers(3, 100, (1, s)).astype(np.int64))  # noqa: E731
    if kind in ("text", "ids"):
        x = ids(8)
        return {"input_ids": x} if kind == "ids" else {"input_ids": x,
                                                       "attention_mask": torch.ones_like(x)}
    if kind == "seq2seq":
        x = ids(8)
        return {"input_ids": x, "attention_mask": torch.ones_like(x),
                "decoder_input_ids": ids(5)}
    if kind == "image":
        return {"pixel_values": torch.from_numpy(
            rng.standard_normal((1, 3, 32, 32)).astype(np.float32))}
    if kind == "audio":
        return {"input_values": torch.from_numpy(
            rng.standard_normal((1, 400)).astype(np.float32))}
    if kind == "mel_seq2seq":
        return {"input_features": torch.from_numpy(
            rng.standard_normal((1, config.num_mel_bins, 2 * config.max_source_positions))
            .astype(np.float32)), "decoder_input_ids": ids(5),
            "decoder_attention_mask": torch.ones((1, 5), dtype=torch.int64)}
    raise ValueError(kind)


class TensorOutputs(torch.nn.Module):
    """Every tensor of model(**inputs) (last hidden state, pooled output, encoder state), so
    each norm the model computes reaches a graph output; inputs passed by name (the config
    has use_cache off)."""

    def __init__(self, model, names):
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *args):
        out = self.model(**dict(zip(self.names, args)))
        return tuple(v for v in out.to_tuple() if isinstance(v, torch.Tensor))


def input_dependent_norm_calls(model, a, b) -> tuple[int, int]:
    """(norm calls whose output differs between inputs a and b, all norm calls) of one pass."""
    leaves = [m for m in model.modules() if NORM.search(type(m).__name__)
              and not any(NORM.search(type(c).__name__) for c in m.children())]
    seen: list[list[torch.Tensor]] = [[], []]
    run = [0]
    hooks = [m.register_forward_hook(
        lambda _m, _i, out: seen[run[0]].append(
            (out[0] if isinstance(out, tuple) else out).detach().clone())) for m in leaves]
    with torch.no_grad():
        model(*a)
        run[0] = 1
        model(*b)
    for h in hooks:
        h.remove()
    if len(seen[0]) != len(seen[1]):
        raise ValueError("norm calls differ between two inputs")
    dependent = sum(x.shape != y.shape or not torch.equal(x, y) for x, y in zip(*seen))
    return dependent, len(seen[0])


def export_case(fam, name, model, feeds, alt, desc, cases, *, kind, dynamo, opset):
    names = list(feeds)
    wrapped = TensorOutputs(model, names).eval()
    randomize_norms(model, 5)
    args, alt_args = [feeds[n] for n in names], [alt[n] for n in names]
    sites, calls = input_dependent_norm_calls(wrapped, args, alt_args)
    dyn = {n: {0: "batch", 1: "decoder_seq" if n.startswith("decoder") else "seq"}
           for n in names if feeds[n].dtype == torch.int64}
    if dynamo:
        with torch.no_grad():
            m = torch.onnx.export(wrapped, tuple(args), input_names=names, opset_version=opset,
                                  dynamo=True, optimize=True, verbose=False).model_proto
    else:
        m = torchscript_export(wrapped, args, names, opset, dyn or None)
    np_feeds = graph_feeds(m, names, args)
    exporter = f"torch.onnx.export(dynamo={dynamo}, opset={opset})"
    write_case(fam, name, m, np_feeds, sites=sites, norm_kind=kind,
               source=f"torch {torch.__version__}, {exporter}: {desc}",
               extra={"framework_norm_calls": calls},
               notes="" if sites == calls else
               f"{calls - sites} norm call(s) see weights only and are constant-folded")
    cases.append(name)


def main():
    import transformers as T
    only = set(sys.argv[1:])
    fams = {"transformers": [], "transformers_dynamo": []}
    failed = []
    if not only:
        for fam in fams:
            clean_family(fam)
    for name, cfg_name, kw, inputs, kind in SPECS:
        targets = [("transformers", False, 14)]
        if name in DYNAMO:
            targets.append(("transformers_dynamo", True, 18))
        for fam, dynamo, opset in targets:
            if only and name not in only:
                continue
            try:
                torch.manual_seed(0)
                config = getattr(T, cfg_name)(**kw)
                config._attn_implementation = "eager"
                if hasattr(config, "use_cache"):
                    config.use_cache = False
                model = T.AutoModel.from_config(config).eval()
                desc = (f"transformers {T.__version__} {type(model).__name__} random init from "
                        f"{cfg_name}({kw})")
                export_case(fam, name, model, inputs_for(inputs, config, 0),
                            inputs_for(inputs, config, 1), desc, fams[fam], kind=kind,
                            dynamo=dynamo, opset=opset)
            except Exception as e:  # noqa: BLE001
                failed.append(f"{fam}/{name}: {type(e).__name__}: {str(e)[:600]}")
    for fam, cases in fams.items():
        report(fam, cases)
    print(f"not generated ({len(failed)}):")
    for line in failed:
        print("  " + line.replace("\n", " "))


if __name__ == "__main__":
    main()
