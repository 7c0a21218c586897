#!/usr/bin/env python3
"""Builds the markdown table of docs/jit-bench.md from criterion's results of
`cargo bench --bench jit_norm` (TARGET/criterion/jit_norm/...) and the output of
scripts/bench_ort_layernorm.py (saved to a file).

Usage: python3 scripts/bench_jit_table.py TARGET_DIR[,TARGET_DIR...] ORT_OUTPUT_FILE
GB/s are 1e9 bytes (read + written) per second, from criterion's mean time. With several
comma-separated criterion result roots (copies of TARGET/criterion from repeated runs, each
given as the folder that holds `criterion`), each cell is the best (highest GB/s) of the runs:
on a shared VM single runs carry +-10-20 % noise from outside the benchmark.
"""
import json
import os
import sys


def gbs(crits, name, size_kib):
    vals = [v for v in (gbs1(c, name, size_kib) for c in crits) if v is not None]
    return max(vals) if vals else None


def gbs1(crit, name, size_kib):
    d = os.path.join(crit, "jit_norm", name.replace("/", "_"), str(size_kib), "new")
    try:
        with open(os.path.join(d, "estimates.json")) as f:
            t = json.load(f)["mean"]["point_estimate"] * 1e-9
        with open(os.path.join(d, "benchmark.json")) as f:
            tp = json.load(f)["throughput"]["Bytes"]
    except (OSError, KeyError, ValueError):
        return None
    return tp / t / 1e9


def ort_table(path):
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 6 and p[0] in ("ln", "rms"):
                try:
                    out[(p[0], int(p[1]), int(p[2]), int(p[3]))] = (float(p[4]), float(p[5]))
                except ValueError:
                    pass
    return out


def main():
    crit = [os.path.join(d, "criterion") for d in sys.argv[1].split(",")]
    ort = ort_table(sys.argv[2])
    f = lambda v: f"{v:.1f}" if v is not None else "-"  # noqa: E731
    r = lambda a, b: f"{a / b:.2f}" if (a and b) else "-"  # noqa: E731
    print("| size KiB | hidden | thr | copy | copy loop | triad | JIT LN | JIT RMS | LN gen "
          "| ORT LN run | ORT LN kernel | LN/copy | RMS/copy | LN gen/copy | LN/copy loop "
          "| LN/ORT kernel | LN/ORT run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in (256, 8192, 32768, 131072):
        for t in (1, 2):
            copy = gbs(crit, f"copy/t{t}", size)
            cloop = gbs(crit, f"copyloop/t{t}", size)
            triad = gbs(crit, f"triad/t{t}", size)
            for h in (64, 384, 768, 1024, 4096):
                ln = gbs(crit, f"ln/h{h}/t{t}", size)
                rms = gbs(crit, f"rms/h{h}/t{t}", size)
                gen = gbs(crit, f"lngen/h{h}/t{t}", size)
                ort_kib = (size * 1024 // 4 // h) * h * 4 // 1024
                o_run, o_k = ort.get(("ln", h, ort_kib, t), (None, None))
                print(f"| {size} | {h} | {t} | {f(copy)} | {f(cloop)} | {f(triad)} | {f(ln)} "
                      f"| {f(rms)} | {f(gen)} | {f(o_run)} | {f(o_k)} | {r(ln, copy)} "
                      f"| {r(rms, copy)} | {r(gen, copy)} | {r(ln, cloop)} | {r(ln, o_k)} "
                      f"| {r(ln, o_run)} |")


if __name__ == "__main__":
    main()
