#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_layers.py — the library's layering, checked from a build (docs/architecture.md).

Reads the object files of libmmarr (nm), links each undefined symbol to the file that
defines it, and fails on:
  - a dependency circle between library source files (a calls b and b calls a, directly or
    through others): the sign that a helper lives in the wrong file;
  - libmmarr/common calling into the library (the common layer depends on nothing);
  - a front end (tools/, examples/, bench/, python/) including a private header of the
    library (libmmarr/src) or format/mmarr_format.h.
Usage: scripts/check_layers.py BUILD_DIR     (prints the file graph with -v)
"""
import glob, os, re, subprocess, sys

def symbols(obj):
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        (undefined if kind == "U" else defined).add(name) if kind in "UTDBRVW" or kind == "U" else None
    return defined, undefined

def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv
    if len(args) != 1:
        sys.exit(__doc__)
    build = args[0]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    objs = sorted(glob.glob(os.path.join(build, "libmmarr/CMakeFiles/mmarr_static.dir/src/*.o")))
    objs += sorted(glob.glob(os.path.join(build, "libmmarr/CMakeFiles/mmarr_common.dir/common/*.o")))
    # objects of the library's current sources only (a build directory keeps stale ones)
    objs = [o for o in objs if os.path.exists(os.path.join(
        root, "libmmarr", os.path.relpath(o, build).split(".dir/")[1][: -len(".o")]))]
    if not objs:
        sys.exit(f"check_layers: no library objects under {build}/libmmarr (build it first)")
    unit = lambda o: os.path.relpath(o, build).split(".dir/")[1][: -len(".c.o")]
    defs, uses = {}, {}
    for o in objs:
        d, u = symbols(o)
        for s in d:
            defs[s] = unit(o)
        uses[unit(o)] = u
    graph = {f: sorted({defs[s] for s in u if s in defs and defs[s] != f}) for f, u in uses.items()}
    problems = []
    for f, deps in graph.items():
        if f.startswith("common/"):
            problems += [f"{f} calls {d}: common/ must depend on nothing" for d in deps
                         if not d.startswith("common/")]
    # circles: strongly connected components of more than one file (Tarjan)
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for c in comps:
        edges = [f"{a} -> {b}" for a in c for b in graph[a] if b in c]
        problems.append("dependency circle: " + ", ".join(edges))
    private = re.compile(r'#\s*include\s*"(mm_internal|mm_index|mm_cache|mm_writer|mm_xxhash|mmarr_format)\.h"')
    for pattern in ("tools/**/*.[ch]", "examples/**/*.[ch]", "bench/**/*.[ch]", "python/**/*.[ch]"):
        for path in glob.glob(os.path.join(root, pattern), recursive=True):
            for i, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
                if private.search(line):
                    problems.append(f"{os.path.relpath(path, root)}:{i}: a front end includes a "
                                    f"private header: {line.strip()}")
    if verbose:
        for f in sorted(graph):
            print(f"{f:24} -> {' '.join(graph[f]) or '-'}")
    for p in problems:
        print("check_layers:", p)
    if problems:
        sys.exit(1)
    print(f"check_layers: {len(graph)} library files, no dependency circle; front ends use the "
          "public header only")

if __name__ == "__main__":
    main()
