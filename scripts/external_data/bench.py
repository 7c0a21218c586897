#!/usr/bin/env python3
"""Time and peak memory of lnopt on a LLaMA-7B-shaped model with external fp16 weights.

Generates the model with gen_sparse_llama.py (a sparse 12.5 GiB weight file: no disk used
until copied), then runs, in one session:
  1. `cp --sparse=never` of the weight file (what the disk can do: the baseline),
  2. `lnopt model.onnx -o out/fused.onnx` (copy mode: weights copied into fused.onnx.data),
  3. `lnopt model.onnx -o fused_keep.onnx --external-data keep` (graph only).
Each is timed with its peak RSS (from wait4). Copies are deleted afterwards.

Usage: bench.py --lnopt target/release/lnopt [--dir /tmp/lnopt-7b] [--layers 32] ...
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{err}")
    return dt, ru.ru_maxrss / 1024.0, err  # ru_maxrss is in KiB on Linux


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lnopt", default="target/release/lnopt")
    ap.add_argument("--dir", default="/tmp/lnopt-7b")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--mlp", type=int, default=11008)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--skip-copy", action="store_true", help="only keep mode (no disk writes)")
    a = ap.parse_args()
    lnopt = os.path.abspath(a.lnopt)
    if os.path.exists(a.dir):
        shutil.rmtree(a.dir)
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen_sparse_llama.py"), a.dir, "--layers", str(a.layers),
         "--hidden", str(a.hidden), "--mlp", str(a.mlp), "--vocab", str(a.vocab)],
        check=True,
    )
    model = os.path.join(a.dir, "model.onnx")
    weights = os.path.join(a.dir, "weights.bin")
    size = os.path.getsize(weights)
    rows = []
    try:
        dt, rss, _ = measure([lnopt, model, "-o", os.path.join(a.dir, "fused_keep.onnx"),
                              "--external-data", "keep"])
        rows.append(("lnopt --external-data keep", dt, rss))
        if not os.path.exists(os.path.join(a.dir, "fused_keep.onnx")):
            sys.exit("keep mode wrote no model")
        if os.path.exists(os.path.join(a.dir, "fused_keep.onnx.data")):
            sys.exit("keep mode wrote a data file")
        if not a.skip_copy:
            dt, rss, _ = measure(["cp", "--sparse=never", weights, os.path.join(a.dir, "cp.bin")])
            rows.append(("cp --sparse=never (weights only)", dt, rss))
            os.remove(os.path.join(a.dir, "cp.bin"))
            out = os.path.join(a.dir, "out")
            os.makedirs(out)
            dt, rss, summary = measure([lnopt, model, "-o", os.path.join(out, "fused.onnx")])
            rows.append(("lnopt (copy into fused.onnx.data)", dt, rss))
            copied = os.path.getsize(os.path.join(out, "fused.onnx.data"))
            if copied < size:
                sys.exit(f"copy mode wrote {copied} bytes of data, want at least {size}")
            print(summary.strip().splitlines()[0])
    finally:
        for f in ("out", "cp.bin"):
            p = os.path.join(a.dir, f)
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
    print(f"model: {a.layers} layers, hidden {a.hidden}, MLP {a.mlp}, {size / 2**30:.2f} GiB fp16")
    print(f"{'command':40s} {'time (s)':>9s} {'peak RSS (MiB)':>15s} {'GiB/s':>7s}")
    for name, dt, rss in rows:
        rate = f"{size / 2**30 / dt:7.2f}" if "keep" not in name else "      -"
        print(f"{name:40s} {dt:9.2f} {rss:15.1f} {rate}")


if __name__ == "__main__":
    main()
