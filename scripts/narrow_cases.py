#!/usr/bin/env python3
"""Writes crates/lnopt-ir/tests/data/narrow_cases.txt: expected codes of lnopt_ir::narrow's
encoders, from the onnx package's own conversions (onnx.numpy_helper.saturate_cast and
ml_dtypes' astype, which the onnx reference implementation of Cast uses).

Each line: TYPE SATURATE F32_BITS_HEX CODE_HEX. Inputs: every code's value, every midpoint
between neighbouring codes and the f32 values just beside it, the overflow region, zeros,
infinities and NaN, with both signs.
Run: python3 scripts/narrow_cases.py
"""
import os

import ml_dtypes
import numpy as np
import onnx.numpy_helper as nh

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "lnopt-ir", "tests", "data",
    "narrow_cases.txt",
)
TYPES = {
    "F8E4M3FN": ml_dtypes.float8_e4m3fn,
    "F8E4M3FNUZ": ml_dtypes.float8_e4m3fnuz,
    "F8E5M2": ml_dtypes.float8_e5m2,
    "F8E5M2FNUZ": ml_dtypes.float8_e5m2fnuz,
    "F4E2M1": ml_dtypes.float4_e2m1fn,
}


def inputs(t):
    bits = 4 if t is ml_dtypes.float4_e2m1fn else 8
    if bits == 8:
        vals = np.arange(128, dtype=np.uint8).view(t).astype(np.float32)
    else:
        # ml_dtypes' float4 is one byte per value: the 8 non-negative codes.
        vals = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], np.float32)
    vals = vals[np.isfinite(vals)]
    vals = np.unique(vals)
    mids = (vals[:-1].astype(np.float64) + vals[1:]) / 2
    big = float(vals.max())
    extra = [big * 1.03, big * 1.07, big * 1.2, big * 2, 1e6, 1e-30, 0.0]
    xs = np.concatenate([vals, mids.astype(np.float32), np.array(extra, np.float32)])
    near = np.concatenate([np.nextafter(xs, np.float32(np.inf)), np.nextafter(xs, np.float32(-np.inf))])
    xs = np.concatenate([xs, near, np.array([np.inf, np.nan], np.float32)])
    xs = np.concatenate([xs, -xs]).astype(np.float32)
    return xs


def main():
    lines = []
    for name, t in TYPES.items():
        xs = inputs(t)
        for sat in (1, 0):
            if name == "F4E2M1":
                got = xs.astype(t)
            elif sat:
                got = nh.saturate_cast(xs, t)
            else:
                got = xs.astype(t)
            codes = got.view(np.uint8)
            for x, c in zip(xs, codes):
                lines.append(f"{name} {sat} {int(x.view(np.uint32)):08x} {int(c):02x}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} cases to {OUT}")


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main()
