#!/usr/bin/env python3
"""Line-table test vectors for PythonLineTable (Sources/FDTraceCore/Symbolize).

Runs under any CPython 3.8-3.13 and prints one JSON object per code object
(recursively through co_consts) of a fixed, varied source:

  {"version": "3.11", "name": "...", "format": 1|2|3, "first_line": N,
   "code_len": bytes, "table": "<hex>", "lines": [[byte_offset, line|null], ...]}

format 1 = co_lnotab (3.8, 3.9), 2 = co_linetable pairs (3.10),
3 = co_linetable location entries (3.11+): enum fdt_py_lines.

The expected lines come from the interpreter: co_lines() on 3.10+ (every
even offset of each range) and dis.findlinestarts() on 3.8/3.9 (the line of
offset o is that of the last line start <= o). Every offset is also checked
against the interpreter's own PyCode_Addr2Line (through ctypes), which is
the function the Swift decoder mirrors; the script fails if they differ.
Two offsets outside the code are added with PyCode_Addr2Line's answer: -1
(the first line) and code_len (past the end: None on 3.10+, the last line
on 3.8/3.9).

Long code objects are sampled to keep the file small: the first and last
offset of every range (every line start on 3.8/3.9) are always kept.

Regenerate (from the package root):
  for v in 3.8 3.9 3.10 3.11 3.12 3.13; do python$v scripts/gen_python_line_vectors.py; done \
      > Tests/FDTraceCoreTests/python_line_vectors.jsonl
"""

import ctypes
import dis
import json
import sys
import types

MAX_POINTS_PER_CODE = 1500


def long_function_source():
    """A function over 300 lines: big byte deltas, big forward and backward
    line jumps (> 127 and > 4095 lines), many lines."""
    out = ["def long_function(a, b, c):", "    total = 0"]
    # One line with more than 255 bytes of bytecode (lnotab/linetable
    # address deltas that need several pairs).
    names = ", ".join("a%d" % i for i in range(160))
    out.append("    big = [" + names + "]")
    # A loop whose body spans more than 127 lines: the jump back to the
    # loop head is a large negative line delta.
    out.append("    for i in range(a):")
    for i in range(150):
        out.append("        total += i * %d" % i)
    out.append("        if total > b:")
    out.append("            break")
    # More than 127 lines with no code at all: a large positive delta.
    out.append("    # gap >127 lines")
    out.extend([""] * 140)
    out.append("    total -= 1")
    # More than 4095 blank lines: a three-chunk varint in 3.11+ tables.
    out.extend(["    # big gap"] + [""] * 4200)
    out.append("    total += c")
    # A multi-line call whose arguments come later than the call's line
    # (negative deltas in every format).
    out.append("    total = combine(")
    out.append("        total,")
    out.extend([""] * 200)
    out.append("        b,")
    out.append("        c=c,")
    out.append("    )")
    for i in range(120):
        out.append("    v%d = total + %d" % (i, i))
    out.append("    return total")
    return "\n".join(out) + "\n"


SOURCE = '''\
import os
from functools import wraps

def simple(a, b):
    c = a + b
    return c * 2

def loops(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        elif i % 7 == 0:
            break
        total += i
    else:
        total = -1
    while total > 10:
        total //= 2
    return total

def decorator_two(**kw):
    def wrap(f):
        @wraps(f)
        def inner(*args, **kwargs):
            return f(*args, **kwargs)
        return inner
    return wrap

@decorator_two(
    arg=1,
    other=[1,
           2],
)
@staticmethod
def decorated(x):
    return x + 1

def calls(a):
    result = some_function(
        a,
        b=2,
        c=[1,
           2,
           3],
    )
    other(result,
          a)
    x = (a
         +
         result)
    return result.attr.method(
        x
    ).chain()

def exceptions(path):
    try:
        f = open(path)
    except OSError as e:
        print(e)
        raise
    except (ValueError, TypeError):
        pass
    else:
        f.close()
    finally:
        print("done")
    try:
        return 1
    finally:
        print("finally after return")

def with_blocks(path):
    with open(path) as g, open(path + "2") as h:
        data = g.read() + h.read()
    with open(path) as g:
        return g.read()

def comprehensions(xs):
    a = [x * 2 for x in xs if x]
    b = {x: y
         for x, y in zip(xs, xs)}
    c = {x for x in xs}
    d = list(y
             for y in xs)
    e = [[i for i in range(x)] for x in xs]
    return a, b, c, d, e

square = lambda v: v * v
pair = (lambda p,
        q: p + q)

def outer(n):
    def inner(m):
        def innermost():
            return m + n
        return innermost
    return inner

class Widget(object):
    attr = 1

    def __init__(self, v):
        self.v = v

    @property
    def value(self):
        return self.v

    @staticmethod
    def make():
        return Widget(0)

    class Nested:
        def method(self):
            return [self]

async def coro(x):
    await x
    async with x as y:
        pass
    async for z in y:
        print(z)

def gen(n):
    for i in range(n):
        yield i
    yield from gen(n - 1)

def assertions(x):
    assert x, "message"
    del x
    global G
    G = 1
    return not G

def conditional(a, b):
    return (a if a
            else b)

if __name__ == "__main__":
    print(simple(1, 2))
    print(loops(100))
''' + long_function_source() + '''
def after_long():
    return "last"
'''


def code_objects(co):
    yield co
    for const in co.co_consts:
        if isinstance(const, types.CodeType):
            for sub in code_objects(const):
                yield sub


def addr2line():
    f = ctypes.pythonapi.PyCode_Addr2Line
    f.restype = ctypes.c_int
    f.argtypes = [ctypes.py_object, ctypes.c_int]

    def call(co, offset):
        line = f(co, offset)
        return None if line == -1 else line
    return call


def expected_ranges(co):
    """[(start, end, line)] from the interpreter's own iterators."""
    code_len = len(co.co_code)
    if sys.version_info >= (3, 10):
        return [(s, e, l) for (s, e, l) in co.co_lines() if e > s]
    starts = list(dis.findlinestarts(co))
    ranges = []
    for i, (start, line) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else code_len
        if end > start:
            ranges.append((start, end, line))
    return ranges


def vector(co, version, fmt, a2l):
    code_len = len(co.co_code)
    ranges = expected_ranges(co)
    expected = {}
    keep = set()
    for start, end, line in ranges:
        for off in range(start, end, 2):
            expected[off] = line
        keep.add(start)
        keep.add(end - 2 if (end - start) % 2 == 0 else end - 1)
    # The interpreter's point lookup must agree with its iterators.
    for off in range(0, code_len, 2):
        want = expected.get(off)
        got = a2l(co, off)
        if got != want:
            raise SystemExit("%s %s offset %d: iterators say %r, PyCode_Addr2Line says %r"
                             % (version, co.co_name, off, want, got))
    offsets = sorted(expected)
    if len(offsets) > MAX_POINTS_PER_CODE:
        step = -(-len(offsets) // MAX_POINTS_PER_CODE)
        offsets = sorted(set(offsets[::step]) | (keep & set(offsets)))
    lines = [[-1, a2l(co, -1)]]
    lines += [[off, expected[off]] for off in offsets]
    lines.append([code_len, a2l(co, code_len)])
    table = co.co_lnotab if fmt == 1 else co.co_linetable
    return {
        "version": version,
        "name": co.co_name,
        "format": fmt,
        "first_line": co.co_firstlineno,
        "code_len": code_len,
        "table": table.hex(),
        "lines": lines,
    }


def main():
    version = "%d.%d" % sys.version_info[:2]
    if sys.version_info < (3, 10):
        fmt = 1
    elif sys.version_info < (3, 11):
        fmt = 2
    else:
        fmt = 3
    a2l = addr2line()
    top = compile(SOURCE, "<fdtrace-line-vectors>", "exec")
    for co in code_objects(top):
        sys.stdout.write(json.dumps(vector(co, version, fmt, a2l), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
