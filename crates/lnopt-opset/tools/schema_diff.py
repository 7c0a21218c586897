"""Prints, for every ai.onnx op, how its schema signature changed between consecutive versions.

Used to review the hand-written table in src/table.rs: a change that shows only type
constraints is a candidate for "type-only"; attribute/input changes need reading the
Changelog. The doc text is compared too (a changed doc means: read it). Needs `pip install onnx`.
Usage: python3 schema_diff.py [max_opset]
"""

import sys

import onnx.defs as defs


def sig(s):
    attrs = {
        name: (a.type, a.required, a.default_value.SerializeToString())
        for name, a in s.attributes.items()
    }
    ins = [(i.name, i.option, i.type_str) for i in s.inputs]
    outs = [(o.name, o.option, o.type_str) for o in s.outputs]
    types = {c.type_param_str: sorted(c.allowed_type_strs) for c in s.type_constraints}
    return attrs, ins, outs, types, s.doc or ""


def main():
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 23
    by_op = {}
    for s in defs.get_all_schemas_with_history():
        if s.domain in ("", "ai.onnx") and s.since_version <= top:
            by_op.setdefault(s.name, []).append(s)
    for name in sorted(by_op):
        hist = sorted(by_op[name], key=lambda s: s.since_version)
        for prev, cur in zip(hist, hist[1:]):
            pa, pi, po, pt, pd = sig(prev)
            ca, ci, co, ct, cd = sig(cur)
            notes = []
            for a in sorted(set(pa) | set(ca)):
                if a not in ca:
                    notes.append(f"-attr {a}")
                elif a not in pa:
                    notes.append(f"+attr {a}{' (required)' if ca[a][1] else ''}")
                elif pa[a] != ca[a]:
                    notes.append(f"~attr {a}")
            if [i[:2] for i in pi] != [i[:2] for i in ci]:
                notes.append(f"inputs {[i[:2] for i in pi]} -> {[i[:2] for i in ci]}")
            if [o[:2] for o in po] != [o[:2] for o in co]:
                notes.append(f"outputs {[o[:2] for o in po]} -> {[o[:2] for o in co]}")
            if pt != ct:
                added = {k: sorted(set(v) - set(pt.get(k, []))) for k, v in ct.items()}
                removed = {k: sorted(set(v) - set(ct.get(k, []))) for k, v in pt.items()}
                added = {k: v for k, v in added.items() if v}
                removed = {k: v for k, v in removed.items() if v}
                notes.append(f"types +{added} -{removed}")
            if pd != cd:
                notes.append("doc changed")
            print(f"{name} {prev.since_version}->{cur.since_version}: {'; '.join(notes) or 'no signature change'}")


if __name__ == "__main__":
    main()
