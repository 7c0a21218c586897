#!/usr/bin/env python3
"""Runs the ONNX standard's node tests (written by gen.py) through lnopt's engines.

For every test and engine, `lnopt run MODEL --data test_data_set_K --engine E` is run on each
data set. Outcomes: `pass` (exit 0 on every set), `mismatch` (exit 1: a wrong answer),
`refused` (exit 2: the engine declined, naming the node), `crash` (anything else, a timeout
included).

The committed list `expected_failures.txt` holds one line per known failure:
    ENGINE TEST OUTCOME  # reason
The run fails (exit 1) when a test fails that the list does not name, when a listed test fails
with another outcome, or when a listed test now passes (the list may only shrink: remove the
line, or run with --shrink to drop every such line). `--ort` also runs ONNX Runtime (CPU,
optimisations off) under the same tolerances, for the comparison table.

Usage: run.py --lnopt target/release/lnopt [--dir target/onnx-node-tests] [--engines interp,jit]
              [--expected scripts/node_tests/expected_failures.txt] [--shrink] [--ort]
              [--write-expected] [--jobs N] [--filter SUBSTRING]
"""
import argparse
import concurrent.futures as cf
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_EXPECTED = os.path.join(HERE, "expected_failures.txt")
OUTCOMES = ("pass", "mismatch", "refused", "crash")


def data_sets(case_dir):
    return sorted(
        os.path.join(case_dir, d)
        for d in os.listdir(case_dir)
        if d.startswith("test_data_set_")
    )


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


def run_lnopt(lnopt, case_dir, engine, timeout):
    """Returns (outcome, detail) of one test under one engine."""
    model = os.path.join(case_dir, "model.onnx")
    for ds in data_sets(case_dir):
        cmd = [lnopt, "run", model, "--data", ds, "--engine", engine, "--threads", "1"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "crash", f"timeout after {timeout} s"
        if p.returncode == 0:
            continue
        detail = last_line(p.stderr) or last_line(p.stdout)
        if p.returncode == 1:
            mism = [l for l in p.stdout.splitlines() if "MISMATCH" in l or "reference has" in l]
            return "mismatch", (mism[0] if mism else detail)[:300]
        if p.returncode == 2:
            return "refused", detail
        return "crash", f"exit {p.returncode}: {detail}"
    return "pass", ""


def tolerance(dtype):
    import numpy as np

    if dtype in (np.float16,) or str(dtype) == "bfloat16":
        return 2e-2, 2e-2
    if dtype == np.float32:
        return 2e-4, 2e-3
    if dtype == np.float64:
        return 1e-7, 1e-7
    return 0.0, 0.0


def run_ort(case_dir):
    """ONNX Runtime (optimisations off) under lnopt's tolerances: 'pass' or 'fail'."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(
            os.path.join(case_dir, "model.onnx"), so, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in sess.get_inputs()]
        for ds in data_sets(case_dir):
            def load(kind):
                out, n = [], 0
                while os.path.exists(os.path.join(ds, f"{kind}_{n}.pb")):
                    t = onnx.TensorProto()
                    with open(os.path.join(ds, f"{kind}_{n}.pb"), "rb") as f:
                        t.ParseFromString(f.read())
                    out.append(numpy_helper.to_array(t))
                    n += 1
                return out

            ins, want = load("input"), load("output")
            got = sess.run(None, dict(zip(names, ins)))
            if len(got) != len(want):
                return "fail"
            for g, w in zip(got, want):
                g, w = np.asarray(g), np.asarray(w)
                if g.shape != w.shape:
                    return "fail"
                if w.dtype.kind in "fc":
                    atol, rtol = tolerance(w.dtype)
                    if not np.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True):
                        return "fail"
                elif not np.array_equal(g, w):
                    return "fail"
        return "pass"
    except Exception:
        return "fail"


def read_expected(path):
    expected = {}
    if not os.path.exists(path):
        return expected
    with open(path) as f:
        for n, line in enumerate(f, 1):
            body = line.split("#", 1)[0].strip()
            if not body:
                continue
            parts = body.split()
            reason = line.split("#", 1)[1].strip() if "#" in line else ""
            if len(parts) != 3 or parts[2] not in OUTCOMES[1:] or not reason:
                sys.exit(f"{path}:{n}: want 'ENGINE TEST OUTCOME  # reason', got {line!r}")
            expected[(parts[0], parts[1])] = (parts[2], reason)
    return expected


def write_expected(path, entries):
    header = (
        "# Known failures of lnopt's engines on the ONNX node tests (scripts/node_tests/run.py).\n"
        "# ENGINE TEST OUTCOME  # reason. This list may only shrink; a 'mismatch' is a wrong\n"
        "# answer and must be fixed or turned into a refusal.\n"
    )
    with open(path, "w") as f:
        f.write(header)
        for (engine, test), (outcome, reason) in sorted(entries.items()):
            f.write(f"{engine} {test} {outcome}  # {reason}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lnopt", default="target/release/lnopt")
    ap.add_argument("--dir", default="target/onnx-node-tests")
    ap.add_argument("--engines", default="interp,jit")
    ap.add_argument("--expected", default=DEFAULT_EXPECTED)
    ap.add_argument("--shrink", action="store_true", help="drop listed tests that now pass")
    ap.add_argument(
        "--write-expected",
        action="store_true",
        help="rewrite the list from this run (new failures included: review the diff)",
    )
    ap.add_argument("--ort", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--filter", default="")
    a = ap.parse_args()

    cases = sorted(
        d for d in os.listdir(a.dir)
        if a.filter in d and os.path.exists(os.path.join(a.dir, d, "model.onnx"))
    )
    if not cases:
        sys.exit(f"no node tests in {a.dir} (run scripts/node_tests/gen.py first)")
    engines = [e for e in a.engines.split(",") if e]
    jobs = [(c, e) for c in cases for e in engines]
    results = {}
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futs = {
            pool.submit(run_lnopt, a.lnopt, os.path.join(a.dir, c), e, a.timeout): (c, e)
            for c, e in jobs
        }
        for fut in cf.as_completed(futs):
            c, e = futs[fut]
            results[(e, c)] = fut.result()
    ort_pass = None
    if a.ort:
        with cf.ProcessPoolExecutor(max_workers=a.jobs) as pool:
            ort_results = dict(zip(cases, pool.map(run_ort, [os.path.join(a.dir, c) for c in cases])))
        ort_pass = sum(1 for v in ort_results.values() if v == "pass")

    expected = read_expected(a.expected)
    problems, now_passing = [], []
    for (e, c), (outcome, detail) in sorted(results.items()):
        listed = expected.get((e, c))
        if outcome == "pass":
            if listed:
                now_passing.append((e, c))
            continue
        if listed is None:
            problems.append(f"NEW {e} {c} {outcome}: {detail}")
        elif listed[0] != outcome:
            problems.append(f"CHANGED {e} {c}: listed {listed[0]}, now {outcome}: {detail}")

    total = len(cases)
    print(f"{total} node tests")
    for e in engines:
        counts = {o: 0 for o in OUTCOMES}
        for c in cases:
            counts[results[(e, c)][0]] += 1
        print(
            f"  {e:7s} pass {counts['pass']:5d} ({100.0 * counts['pass'] / total:.1f} %)  "
            f"refused {counts['refused']}  mismatch {counts['mismatch']}  crash {counts['crash']}"
        )
    if ort_pass is not None:
        print(f"  ort     pass {ort_pass:5d} ({100.0 * ort_pass / total:.1f} %)  (CPU, optimisations off)")
    if a.write_expected:
        entries = {
            (e, c): (o, expected.get((e, c), (None, d or o))[1] if expected.get((e, c)) else (d or o))
            for (e, c), (o, d) in results.items()
            if o != "pass"
        }
        if a.filter:
            entries.update({k: v for k, v in expected.items() if a.filter not in k[1]})
        write_expected(a.expected, entries)
        print(f"wrote {len(entries)} entries to {a.expected}")
        return 0
    if now_passing:
        if a.shrink:
            for k in now_passing:
                expected.pop(k)
            write_expected(a.expected, expected)
            print(f"removed {len(now_passing)} now-passing entries from {a.expected}")
        else:
            for e, c in now_passing:
                problems.append(f"NOW PASSES {e} {c}: remove it from {a.expected} (or --shrink)")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problems")
        return 1
    print("every failure is listed with its reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
