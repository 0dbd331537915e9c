#!/usr/bin/env python3
"""Compares two fdtrace JSON reports as scripts/check-dist.sh does: what must
not depend on how fdtrace was built or installed.

  report_projection.py counts REF.json GOT.json   the leak groups: program, count, call
  report_projection.py lines  REF.json GOT.json   and every frame's file:line

Prints one line (a summary, or the first difference) and exits 0 when they
are the same, 1 when not, 2 when a report cannot be read.
"""
import json
import os
import sys


def groups(report, with_lines):
    out = []
    for p in report.get("processes", []):
        program = os.path.basename(p.get("executable") or "?")
        for g in p.get("leaks", []) + p.get("inherited_leaks", []):
            key = (program, g.get("count"), g.get("call"))
            if with_lines:
                frames = g.get("frames", [])
                key += (tuple(
                    "%s:%s" % (os.path.basename(f["file"]), f.get("line")) if f.get("file") else "?"
                    for f in frames), )
            out.append(key)
    return sorted(out, key=repr)


def show(g):
    text = "%s: %s × %s" % g[:3]
    if len(g) > 3:
        text += " at " + " ← ".join(g[3][:6])
    return text


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("counts", "lines"):
        print("usage: report_projection.py counts|lines REF.json GOT.json", file=sys.stderr)
        return 2
    try:
        ref, got = (json.load(open(p)) for p in sys.argv[2:])
    except (OSError, ValueError) as e:
        print("cannot read a report: %s" % e)
        return 2
    with_lines = sys.argv[1] == "lines"
    a, b = groups(ref, with_lines), groups(got, with_lines)
    if a == b:
        total = sum(g[1] or 0 for g in a)
        print("%d groups, %d descriptors: %s" % (len(a), total, "; ".join(show(g) for g in a[:3])))
        return 0
    for x, y in zip(a + [None] * len(b), b + [None] * len(a)):
        if x != y:
            print("expected %s, got %s" % (show(x) if x else "nothing", show(y) if y else "nothing"))
            return 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
