#!/usr/bin/env python3
"""Compares lnopt's shape/dtype inference with the truth and with onnx.shape_inference.

For every DIR/<case>/model.onnx, a copy is made with every declared type removed except the
graph inputs' (value_info dropped, graph outputs untyped), so neither engine can echo a
declared fact. Then
  * lnopt:  `lnopt inspect --types COPY` (every value's inferred dtype and dims);
  * onnx:   onnx.shape_inference.infer_shapes(COPY, strict_mode=True, data_prop=True)
            (non-strict if strict mode raises; the error is counted);
  * truth:  the declared types of the ORIGINAL model's graph outputs (for the node tests they
            are the types of the reference outputs).

Compared per value: dtype, rank, and each dim that both sides know as a number. A fact lnopt
states that contradicts the truth or onnx is a DISAGREEMENT (a soundness bug: the script exits
1); a fact only one side knows is counted as coverage. Symbolic dims count as "rank known, dim
not a number".

--scope outputs compares graph outputs only (node tests); --scope all compares every value
onnx typed as well (corpus). --json FILE writes every per-value record.

Usage: check.py --lnopt target/release/lnopt [--scope outputs|all] [--filter SUBSTR]
                [--jobs N] [--json FILE] [--show N] DIR [DIR...]
"""
import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile

import onnx
from onnx import shape_inference

NAMES = {
    "undefined": 0, "f32": 1, "u8": 2, "i8": 3, "u16": 4, "i16": 5, "i32": 6, "i64": 7,
    "string": 8, "bool": 9, "f16": 10, "f64": 11, "u32": 12, "u64": 13, "c64": 14,
    "c128": 15, "bf16": 16,
}


def parse_lnopt_type(text):
    """'f32[2,?,n]' -> (dtype code or None, dims list or None); '?' -> (None, None)."""
    if text == "?":
        return None, None
    name, _, rest = text.partition("[")
    code = NAMES.get(name)
    if code is None and name.startswith("dtype"):
        code = int(name[5:])
    if code == 0:
        code = None
    rest = rest[:-1]
    if rest == "*":
        return code, None
    if rest == "":
        return code, []
    dims = []
    for d in rest.split(","):
        if d.lstrip("-").isdigit():
            dims.append(int(d))
        elif d == "?":
            dims.append(None)
        else:
            dims.append("sym:" + d)
    return code, dims


def onnx_type(tp):
    """TypeProto -> (dtype, dims) for dense tensors, None for other types."""
    if not tp.HasField("tensor_type"):
        return None
    tt = tp.tensor_type
    code = tt.elem_type or None
    if not tt.HasField("shape"):
        return code, None
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
        elif d.HasField("dim_param"):
            dims.append("sym:" + d.dim_param)
        else:
            dims.append(None)
    return code, dims


def stripped(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for o in m.graph.output:
        o.ClearField("type")
    return m


def run_lnopt(lnopt, path):
    p = subprocess.run([lnopt, "inspect", "--types", path], capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    types = {}
    seen = False
    for line in p.stdout.splitlines():
        if line.startswith("types:"):
            seen = True
            continue
        if seen and line.startswith("  ") and "\t" in line:
            name, _, ty = line[2:].rpartition("\t")
            types[name] = parse_lnopt_type(ty)
    if not seen:
        return None, "no types section in lnopt's output"
    return types, None


def run_onnx(model):
    try:
        inf = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        err = None
    except Exception as e:  # noqa: BLE001 - any failure of the reference is recorded
        err = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        try:
            inf = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception:  # noqa: BLE001
            return {}, err
    out = {}
    for vi in list(inf.graph.value_info) + list(inf.graph.output):
        t = onnx_type(vi.type)
        if t is not None:
            out[vi.name] = t
    return out, err


def compare(a, b):
    """Contradictions between two (dtype, dims) facts; None entries are unknown."""
    problems = []
    (da, sa), (db, sb) = a, b
    if da is not None and db is not None and da != db:
        problems.append(f"dtype {da} vs {db}")
    if sa is not None and sb is not None:
        if len(sa) != len(sb):
            problems.append(f"rank {len(sa)} vs {len(sb)}")
        else:
            for k, (x, y) in enumerate(zip(sa, sb)):
                if isinstance(x, int) and isinstance(y, int) and x != y:
                    problems.append(f"dim {k}: {x} vs {y}")
    return problems


def fmt(t):
    if t is None:
        return "none"
    d, s = t
    ds = "?" if s is None else ",".join("?" if x is None else str(x).replace("sym:", "") for x in s)
    return f"{d}[{ds}]"


def check_case(args, case_dir):
    path = os.path.join(case_dir, "model.onnx")
    model = onnx.load(path, load_external_data=False)
    truth = {}
    for o in model.graph.output:
        t = onnx_type(o.type) if o.HasField("type") else None
        truth[o.name] = t
    m = stripped(model)
    with tempfile.TemporaryDirectory() as tmp:
        sp = os.path.join(tmp, "model.onnx")
        onnx.save(m, sp)
        # Keep external data reachable (corpus models may use it).
        for f in os.listdir(case_dir):
            if f.endswith(".data") or f.endswith(".bin"):
                os.symlink(os.path.join(os.path.abspath(case_dir), f), os.path.join(tmp, f))
        ln, ln_err = run_lnopt(args.lnopt, sp)
    ox, ox_err = run_onnx(m)
    if args.scope == "outputs":
        names = [o.name for o in model.graph.output]
    else:
        names = sorted(set(ox) | {o.name for o in model.graph.output}
                       | {o for n in model.graph.node for o in n.output if o})
    recs = []
    for name in names:
        t = truth.get(name)
        o = ox.get(name)
        lt = ln.get(name) if ln is not None else None
        if lt == (None, None):
            lt = None
        rec = {"case": os.path.basename(case_dir), "value": name, "lnopt": lt, "onnx": o,
               "truth": t, "problems": []}
        if lt is not None:
            if t is not None:
                rec["problems"] += ["vs truth: " + p for p in compare(lt, t)]
            if o is not None:
                rec["problems"] += ["vs onnx: " + p for p in compare(lt, o)]
        recs.append(rec)
    return {"case": os.path.basename(case_dir), "lnopt_error": ln_err, "onnx_error": ox_err,
            "records": recs}


def fully_known(t):
    return t is not None and t[0] is not None and t[1] is not None and all(
        isinstance(x, int) for x in t[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--lnopt", required=True)
    ap.add_argument("--scope", choices=["outputs", "all"], default="outputs")
    ap.add_argument("--filter", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--show", type=int, default=40, help="lines of each list to print")
    args = ap.parse_args()
    cases = []
    for d in args.dirs:
        for c in sorted(os.listdir(d)):
            cd = os.path.join(d, c)
            if args.filter in c and os.path.isfile(os.path.join(cd, "model.onnx")):
                cases.append(cd)
    with cf.ThreadPoolExecutor(args.jobs) as ex:
        results = list(ex.map(lambda c: check_case(args, c), cases))
    recs = [r for res in results for r in res["records"]]
    ln_errors = [(r["case"], r["lnopt_error"]) for r in results if r["lnopt_error"]]
    ox_errors = [(r["case"], r["onnx_error"]) for r in results if r["onnx_error"]]
    bad = [r for r in recs if r["problems"]]
    tensor = [r for r in recs if r["truth"] is not None or r["onnx"] is not None]

    def count(side, pred):
        return sum(1 for r in tensor if pred(r[side]))

    print(f"cases: {len(cases)}  values compared: {len(tensor)}"
          f"  (non-tensor or untyped outputs skipped: {len(recs) - len(tensor)})")
    print(f"{'':8} {'dtype':>7} {'rank':>7} {'all dims':>9}")
    for side in ("lnopt", "onnx", "truth"):
        print(f"{side:8} {count(side, lambda t: t is not None and t[0] is not None):7}"
              f" {count(side, lambda t: t is not None and t[1] is not None):7}"
              f" {count(side, fully_known):9}")
    gap = [r for r in tensor if r["lnopt"] is None or r["lnopt"][1] is None]
    print(f"lnopt errors (inference refused a model): {len(ln_errors)}")
    print(f"onnx strict-mode errors: {len(ox_errors)}")
    print(f"values whose rank lnopt does not know: {len(gap)}")
    print(f"DISAGREEMENTS (lnopt states a contradicting fact): {len(bad)}")
    for c, e in ln_errors[: args.show]:
        print(f"  lnopt error  {c}: {e}")
    for r in bad[: args.show]:
        print(f"  disagree  {r['case']} / {r['value']}: lnopt {fmt(r['lnopt'])} onnx"
              f" {fmt(r['onnx'])} truth {fmt(r['truth'])}: {'; '.join(r['problems'])}")
    ops_gap = {}
    for r in gap:
        ops_gap.setdefault(r["case"], 0)
        ops_gap[r["case"]] += 1
    for c in list(ops_gap)[: args.show]:
        print(f"  rank unknown  {c}: {ops_gap[c]} value(s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(1 if bad or ln_errors else 0)


if __name__ == "__main__":
    main()
