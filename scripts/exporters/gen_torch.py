#!/usr/bin/env python3
"""fixtures/exporters/{timm, torch_functions}: timm models (pretrained=False, tiny configs, incl.
LayerNorm2d and RmsNorm2d, the channels-first norms) and nn.LayerNorm exported as local
functions (TorchScript's export_modules_as_functions). TorchScript exporter (dynamo=False).
The transformers families are made by gen_transformers.py.

Needs (own virtualenv): torch, timm, transformers, onnx, onnxruntime, onnxscript.
Run: python gen_torch.py. The site count is the number of forward calls of norm modules
(class names containing LayerNorm / RMSNorm / RmsNorm) in one eager run.
"""

from __future__ import annotations

import io
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clean_family, report, rng_for, write_case  # noqa: E402

warnings.filterwarnings("ignore")
NORM = re.compile(r"(LayerNorm|RMSNorm|RmsNorm)", re.I)


def norm_calls(model, args) -> int:
    n = [0]
    hooks = [m.register_forward_hook(lambda *a: n.__setitem__(0, n[0] + 1))
             for m in model.modules() if NORM.search(type(m).__name__)
             and not any(NORM.search(type(c).__name__) for c in m.children())]
    with torch.no_grad():
        model(*args)
    for h in hooks:
        h.remove()
    return n[0]


def randomize_norms(model, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if NORM.search(type(m).__name__):
                for name, p in m.named_parameters(recurse=False):
                    base = 1.0 if name == "weight" else 0.0
                    if "Gemma" in type(m).__name__:
                        base = 0.0
                    p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))


def torchscript_export(model, args, names, opset, dynamic=None, **kw) -> onnx.ModelProto:
    """`model(*args)` through the TorchScript exporter (constants folded), inputs named."""
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, tuple(args), f, input_names=names, opset_version=opset,
                          dynamo=False, do_constant_folding=True, dynamic_axes=dynamic, **kw)
    return onnx.load_from_string(f.getvalue())


def graph_feeds(m: onnx.ModelProto, names, args) -> dict:
    """The tensors `args` (named `names`) as numpy, for the inputs the exported graph kept."""
    feeds = {n: a.numpy() for n, a in zip(names, args)}
    return {i.name: feeds[i.name] for i in m.graph.input if i.name in feeds}


def export(family, name, model, args, names, desc, cases, *, opset=14, dynamic=None,
           kind="layernorm", negative=False, **kw):
    model.eval()
    randomize_norms(model, 5)
    sites = norm_calls(model, args)
    m = torchscript_export(model, args, names, opset, dynamic, **kw)
    feeds = graph_feeds(m, names, args)
    write_case(family, name, m, feeds, sites=sites, negative=negative, norm_kind=kind,
               source=f"torch {torch.__version__}, torch.onnx.export(dynamo=False, opset={opset}): "
                      f"{desc}")
    cases.append(name)


def timm_cases(cases):
    import timm
    import timm.layers as L
    import timm.layers.fast_norm as fast_norm
    # TorchScript cannot export aten::rms_norm: let timm write RMSNorm out with torch ops, as
    # it does on torch builds without F.rms_norm.
    fast_norm.has_torch_rms_norm = False
    import timm.layers.norm as timm_norm
    timm_norm.rms_norm = fast_norm.rms_norm
    fam = "timm"
    clean_family(fam)
    x = torch.from_numpy(rng_for(fam, "img").standard_normal((1, 3, 32, 32)).astype(np.float32))
    specs = [
        ("vit_tiny", "vit_tiny_patch16_224", dict(img_size=32, patch_size=8, embed_dim=32, depth=2,
                                                   num_heads=2)),
        ("deit_tiny", "deit_tiny_patch16_224", dict(img_size=32, patch_size=8, embed_dim=32,
                                                     depth=2, num_heads=2)),
        ("convnext_tiny", "convnext_atto", dict(dims=(8, 16, 24, 32), depths=(1, 1, 1, 1))),
        ("convnextv2_tiny", "convnextv2_atto", dict(dims=(8, 16, 24, 32), depths=(1, 1, 1, 1))),
        ("swin_tiny", "swin_tiny_patch4_window7_224", dict(img_size=32, patch_size=4, window_size=4,
                                                           embed_dim=16, depths=(1, 1),
                                                           num_heads=(1, 2))),
    ]
    for name, arch, kw in specs:
        try:
            torch.manual_seed(0)
            model = timm.create_model(arch, pretrained=False, num_classes=10, **kw)
            export(fam, name, model, [x], ["x"], f"timm {timm.__version__} {arch}(pretrained=False, "
                   f"{kw})", cases, negative=False)
        except Exception as e:  # noqa: BLE001
            print(f"timm {name}: {type(e).__name__}: {e}"[:300])

    class Rms2dBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.n1 = L.RmsNorm2d(8)
            self.conv2 = torch.nn.Conv2d(8, 8, 1)
            self.n2 = L.LayerNorm2d(8)

        def forward(self, x):
            return self.n2(self.conv2(torch.relu(self.n1(self.conv(x)))))

    torch.manual_seed(0)
    export(fam, "rmsnorm2d_block", Rms2dBlock(), [x], ["x"],
           "Conv2d → timm.layers.RmsNorm2d → ReLU → Conv2d → timm.layers.LayerNorm2d", cases,
           kind="rmsnorm+layernorm")

    class RmsBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.n = L.RmsNorm(16)

        def forward(self, x):
            return self.n(x)

    x3 = torch.from_numpy(rng_for(fam, "seq").standard_normal((2, 5, 16)).astype(np.float32))
    export(fam, "rmsnorm", RmsBlock(), [x3], ["x"], "timm.layers.RmsNorm(16)", cases, kind="rmsnorm")


def function_cases(cases):
    fam = "torch_functions"
    clean_family(fam)

    class TwoNorms(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(16, 16)
            self.n1 = torch.nn.LayerNorm(16)
            self.n2 = torch.nn.LayerNorm(16)

        def forward(self, x):
            return self.n2(self.fc(self.n1(x)))

    x = torch.from_numpy(rng_for(fam, "x").standard_normal((2, 5, 16)).astype(np.float32))
    for opset in (15, 16):
        torch.manual_seed(0)
        export(fam, f"layernorm_as_function_op{opset}", TwoNorms(), [x], ["x"],
               "two nn.LayerNorm calls exported as one local function "
               "(export_modules_as_functions={nn.LayerNorm})", cases, opset=opset,
               export_modules_as_functions={torch.nn.LayerNorm})


def main():
    cases = {"timm": [], "torch_functions": []}
    timm_cases(cases["timm"])
    function_cases(cases["torch_functions"])
    for f, c in cases.items():
        report(f, c)


if __name__ == "__main__":
    main()
