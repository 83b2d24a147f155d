#!/usr/bin/env python3
"""Import cycles between the modules of each crate, and imports against a crate's layers: `make
lint` fails on either.

A module's imports are the `crate::…` and `super::…` paths in its code (comments and its
`#[cfg(test)] mod tests` left out), resolved to the deepest module that exists. A module using its
own parent or child is layering, not a cycle; two modules that reach each other through any chain
of imports are.

Layers (LAYERS below): a crate's top-level modules in order, lowest first; a module may import its
own layer and those below, never one above (sim: model ← input ← run ← output; the pipeline's core
crate: core ← memory adapters; across the pipeline's crates, core ← adapters ← hosts is Cargo's to
enforce). `tests/module_lint.rs` plants a wrong-way import and sees this fail.
Usage: scripts/module-cycles.py SRC_DIR...
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


# Per source root: its layers, lowest first, each a set of top-level module names; "*" stands for
# every module no layer names.
LAYERS = {
    "sim/src": [{"model"}, {"input"}, {"run"}, {"output"}],
    # The pipeline's core crate (workers-core); its adapters on AWS and its hosts are crates of their
    # own (workers/aws, workers/hosts), kept in order by Cargo: the core cannot name them.
    "workers/src": [
        # core: the task protocol, state machine, ports, dispatcher, worker, sweeper, delivery, tools
        {"*"},
        # the adapters in memory
        {"memory"},
    ],
}


def layer_of(layers, module):
    top = module.split("::")[0]
    for i, names in enumerate(layers):
        if top in names:
            return i
    return next(i for i, names in enumerate(layers) if "*" in names)


def wrong_way(root, g):
    """(module, import) pairs where a lower layer imports a higher one."""
    key = os.path.normpath(root).replace(os.sep, "/")
    layers = next((v for k, v in LAYERS.items() if key.endswith(k)), None)
    if not layers:
        return []
    return sorted(
        (m, d)
        for m, deps in g.items()
        for d in deps
        if layer_of(layers, d) > layer_of(layers, m)
    )


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
        g = graph(modules(root))
        found = cycles(g)
        for scc in found:
            print(f"{root}: import cycle between {', '.join(scc)}")
        against = wrong_way(root, g)
        for m, d in against:
            print(f"{root}: {m} imports {d}, a layer above it (scripts/module-cycles.py LAYERS)")
        failed |= bool(found) or bool(against)
    if not failed:
        print(f"no import cycles or wrong-way imports in {' '.join(sys.argv[1:])}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
