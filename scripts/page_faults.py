#!/usr/bin/env python3
"""Page faults per steady-state run of the JIT: `lnopt bench` is run twice, with FEW and with
FEW + EXTRA timed runs, under `/usr/bin/time -v`; the difference in minor page faults divided
by EXTRA is what one more run costs (0 when every buffer is reused across runs). Also prints
the peak RSS.

Usage: python3 scripts/page_faults.py [--lnopt PATH] [--threads 2] [--extra 20] MODEL_DIR...
Each MODEL_DIR holds model.onnx and test_data_set_0/.
"""
import argparse
import os
import re
import subprocess


def measure(lnopt, d, threads, iters):
    cmd = ["/usr/bin/time", "-v", lnopt, "bench", os.path.join(d, "model.onnx"), "--engine",
           "jit", "--fuse", "--threads", str(threads), "--data",
           os.path.join(d, "test_data_set_0"), "--iters", str(iters)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    faults = int(re.search(r"Minor \(reclaiming a frame\) page faults: (\d+)", r.stderr).group(1))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return faults, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--lnopt", default="target/release/lnopt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--few", type=int, default=2)
    ap.add_argument("--extra", type=int, default=20)
    a = ap.parse_args()
    print("| model | minor faults, {} runs | {} runs | per extra run | peak RSS MiB |".format(
        a.few, a.few + a.extra))
    print("|---|---|---|---|---|")
    for d in a.dirs:
        f0, _ = measure(a.lnopt, d, a.threads, a.few)
        f1, rss = measure(a.lnopt, d, a.threads, a.few + a.extra)
        print(f"| {os.path.basename(os.path.normpath(d))} | {f0} | {f1} | "
              f"{(f1 - f0) / a.extra:.1f} | {rss / 1024:.0f} |")


if __name__ == "__main__":
    main()
