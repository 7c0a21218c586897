#!/usr/bin/env python3
"""Lists the coverage gaps in a check.py --json report: values where onnx (or the truth)
knows a dtype, rank or numeric dim that lnopt does not, grouped by the ops of the case.

Usage: gaps.py REPORT.json [--vs onnx|truth] [--max N]
"""
import argparse
import collections
import json


def known_dims(t):
    if t is None or t[1] is None:
        return None
    return [isinstance(d, int) for d in t[1]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--vs", default="onnx", choices=["onnx", "truth"])
    ap.add_argument("--max", type=int, default=200)
    a = ap.parse_args()
    res = json.load(open(a.report))
    rows = []
    for r in res:
        for v in r["records"]:
            ref, ln = v[a.vs], v["lnopt"]
            if ref is None:
                continue
            why = None
            if ref[0] is not None and (ln is None or ln[0] is None):
                why = "dtype"
            elif ref[1] is not None and (ln is None or ln[1] is None):
                why = "rank"
            elif ref[1] is not None and ln[1] is not None and len(ref[1]) == len(ln[1]):
                kr, kl = known_dims(ref), known_dims(ln)
                if any(x and not y for x, y in zip(kr, kl)):
                    why = "dims"
            if why:
                rows.append((why, r["case"], v["value"], ln, ref))
    print(f"{len(rows)} values where {a.vs} knows more than lnopt")
    c = collections.Counter(w for w, *_ in rows)
    print(dict(c))
    for row in rows[: a.max]:
        print(*row)


if __name__ == "__main__":
    main()
