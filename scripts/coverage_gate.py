#!/usr/bin/env python3
"""Fusion-coverage gate: fails when a corpus folder fuses fewer sites than its checked-in
expectation.

Reads the per-case results that `corpus_eval.py --json FILE` writes, assigns each case to the
corpus folder holding it (zoo, onnx-node, peer, ...; cases may sit in sub-folders), and compares
every folder with `scripts/coverage/<folder>.json`:

- the folder's fused-site total may not drop below `sites_fused`;
- no case may fuse fewer sites than its entry in `cases` (so a loss in one case cannot hide
  behind a gain in another), and no expected case may be missing from the results;
- the folder may not have more unsound cases than `unsound` (0).

A drop therefore needs an explicit change of the expectation file. `--update` rewrites the
files from the results and prints every number it changed (use it after a deliberate change,
and commit the result with the reason).

Sites are counted as corpus_eval.py counts them: per case, the norm nodes in the output minus
those already in the input, capped at the sites the case needs; unsound cases count 0.

Usage: coverage_gate.py --json target/corpus_eval.json [--update] CORPUS/zoo CORPUS/onnx-node ...
Exit status: 0 when every folder meets its expectation, 1 when one does not, 2 on usage errors.
"""
import argparse
import json
import os
import sys

EXPECT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coverage")
SOUND = ("OK", "MISSED")


def case_names(folder):
    """Names of the case folders (holding model.onnx) anywhere under `folder`."""
    names = set()
    for dirpath, _dirs, files in os.walk(folder):
        if "model.onnx" in files:
            names.add(os.path.basename(dirpath))
    return names


def sites(r):
    """(needed, fused) sites of one corpus_eval result, by corpus_eval.py's own rule."""
    needed = max((r.get("expected") or 0) - r.get("fused_before", 0), 0)
    if r["status"] not in SOUND:
        return needed, 0
    fused = min(max(r.get("fused", 0) - r.get("fused_before", 0), 0), needed)
    return needed, fused


def measure(results, names):
    """The expectation record of one folder from the results of its cases."""
    mine = [r for r in results if r["case"] in names]
    cases = {}
    needed_total = fused_total = 0
    for r in sorted(mine, key=lambda r: r["case"]):
        needed, fused = sites(r)
        needed_total += needed
        fused_total += fused
        cases[r["case"]] = fused
    return {
        "cases_total": len(mine),
        "sites_needed": needed_total,
        "sites_fused": fused_total,
        "unsound": sum(r["status"] not in SOUND for r in mine),
        "cases": cases,
    }


def compare(folder, want, got):
    """Problems of `got` against the expectation `want` (empty when it meets it)."""
    problems = []
    if got["sites_fused"] < want["sites_fused"]:
        problems.append(f"{folder}: {got['sites_fused']} sites fused, expectation "
                        f"{want['sites_fused']}")
    if got["unsound"] > want["unsound"]:
        problems.append(f"{folder}: {got['unsound']} unsound cases, expectation {want['unsound']}")
    for case, n in sorted(want["cases"].items()):
        if case not in got["cases"]:
            problems.append(f"{folder}/{case}: no result (case missing or not evaluated)")
        elif got["cases"][case] < n:
            problems.append(f"{folder}/{case}: {got['cases'][case]} sites fused, expectation {n}")
    return problems


def changes(want, got):
    """Human-readable differences between two expectation records."""
    out = []
    for key in ("cases_total", "sites_needed", "sites_fused", "unsound"):
        if want.get(key) != got[key]:
            out.append(f"{key} {want.get(key)} -> {got[key]}")
    old = want.get("cases", {})
    for case in sorted(set(old) | set(got["cases"])):
        if old.get(case) != got["cases"].get(case):
            out.append(f"{case} {old.get(case)} -> {got['cases'].get(case)}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", required=True, help="corpus_eval.py --json output")
    ap.add_argument("--update", action="store_true",
                    help="rewrite scripts/coverage/<folder>.json from the results")
    ap.add_argument("folders", nargs="+", help="corpus folders (their names key the files)")
    a = ap.parse_args()
    with open(a.json) as f:
        results = json.load(f)
    problems = []
    for folder in a.folders:
        name = os.path.basename(os.path.normpath(folder))
        names = case_names(folder)
        if not names:
            print(f"coverage_gate: no cases under {folder}", file=sys.stderr)
            return 2
        got = measure(results, names)
        path = os.path.join(EXPECT_DIR, f"{name}.json")
        want = None
        if os.path.exists(path):
            with open(path) as f:
                want = json.load(f)
        print(f"{name:10} cases {got['cases_total']:4}  sites fused {got['sites_fused']}/"
              f"{got['sites_needed']}  unsound {got['unsound']}"
              + (f"   (expectation {want['sites_fused']}/{want['sites_needed']})" if want else ""))
        if a.update:
            diff = changes(want or {}, got)
            with open(path, "w") as f:
                json.dump(got, f, indent=1, sort_keys=True)
                f.write("\n")
            print(f"  wrote {os.path.relpath(path)}: "
                  + ("; ".join(diff) if diff else "no change"))
            continue
        if want is None:
            problems.append(f"{name}: no expectation file {os.path.relpath(path)} "
                            "(create it with --update)")
            continue
        problems += compare(name, want, got)
    if problems:
        print("coverage dropped below the checked-in expectation:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
