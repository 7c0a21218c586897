#!/usr/bin/env python3
"""Checks the README statements that need the corpus itself.

- The I/O bench (`benches/io.rs`) decodes and encodes the largest `model.onnx` found one level
  below each corpus folder; the README must name that model.

Usage: readme_corpus_check.py CORPUS_ROOT [README]   (exit 1 when a statement is wrong)
"""
import glob
import os
import re
import sys


def largest_model(corpus):
    """The case name of the largest model.onnx at CORPUS/<suite>/<case>/ (the bench's rule)."""
    paths = glob.glob(os.path.join(corpus, "*", "*", "model.onnx"))
    if not paths:
        raise SystemExit(f"readme_corpus_check: no models under {corpus}")
    best = max(paths, key=os.path.getsize)
    return os.path.basename(os.path.dirname(best))


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    corpus = sys.argv[1]
    readme = sys.argv[2] if len(sys.argv) == 3 else "README.md"
    text = open(readme).read().replace("\n", " ")
    m = re.search(r"largest corpus model \((\w+)", text)
    if not m:
        print("readme_corpus_check: README names no largest corpus model")
        return 1
    want = largest_model(corpus)
    if m.group(1) != want:
        print(f"README names {m.group(1)} as the largest corpus model; the bench picks {want}")
        return 1
    print(f"README: largest corpus model {want} (as the I/O bench picks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
