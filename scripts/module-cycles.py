#!/usr/bin/env python3
"""Import cycles between the modules of each crate: `make lint` fails on any.

A module's imports are the `crate::…` and `super::…` paths in its code (comments and its
`#[cfg(test)] mod tests` left out), resolved to the deepest module that exists. A module using its
own parent or child is layering, not a cycle; two modules that reach each other through any chain
of imports are. Usage: scripts/module-cycles.py SRC_DIR...
"""
import os
import re
import sys


def modules(root):
    found = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]) or parts[-1] == "tests":
                continue
            code = open(path, encoding="utf-8").read()
            code = re.split(r"#\[cfg\(test\)\]\s*mod tests", code)[0]
            code = "\n".join(l for l in code.split("\n") if not l.strip().startswith("//"))
            refs = set(re.findall(r"crate::([a-z_]+(?:::[a-z_]+)*)", code))
            for m in re.findall(r"super::([a-z_]+)", code):
                refs.add("::".join(parts[:-1] + [m]) if len(parts) > 1 else m)
            found["::".join(parts)] = refs
    return found


def graph(found):
    names = set(found)

    def resolve(ref):
        ps = ref.split("::")
        for k in range(len(ps), 0, -1):
            if "::".join(ps[:k]) in names:
                return "::".join(ps[:k])
        return None

    def related(a, b):
        return a.startswith(b + "::") or b.startswith(a + "::")

    return {
        m: {d for d in map(resolve, refs) if d and d != m and not related(m, d)}
        for m, refs in found.items()
    }


def cycles(g):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main():
    failed = False
    for root in sys.argv[1:] or ["src"]:
        found = cycles(graph(modules(root)))
        for scc in found:
            print(f"{root}: import cycle between {', '.join(scc)}")
        failed |= bool(found)
    if not failed:
        print(f"no import cycles in {' '.join(sys.argv[1:])}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
