#!/usr/bin/env python3
"""Module-level dependency cycles of one crate, from `cargo modules dependencies` (dot on stdin).

cargo-modules draws items and `uses` edges between them; its own `--acyclic` also counts a
type and its methods (`T` -> `T::new` -> `T`) as a cycle. This script lifts every `uses`
edge to the modules that own its two ends and then to the two sibling modules below their
lowest common ancestor that hold them (so `a::x -> b::y` counts as `a -> b`: a folder is one
module), leaves out edges between a module and its own ancestors (a `mod.rs` and its children
sharing the parent's types), and prints the module graph's cycles (strongly connected
components of more than one module), or `no cycles`.
Exit status 1 when there is a cycle.
"""
import re
import sys

NODE = re.compile(r'^\s*"([^"]+)" \[label="([^|"]*)\|')
EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')


def main() -> int:
    modules, edges = set(), []
    for line in sys.stdin:
        if m := EDGE.match(line):
            edges.append((m[1], m[2]))
        elif m := NODE.match(line):
            kind = m[2].split()[-1]
            if kind in ("crate", "mod"):
                modules.add(m[1])

    def owner(path: str) -> str:
        while path not in modules and "::" in path:
            path = path.rsplit("::", 1)[0]
        return path

    def related(a: str, b: str) -> bool:
        return a == b or a.startswith(b + "::") or b.startswith(a + "::")

    def lift(a: str, b: str) -> tuple[str, str]:
        """The two siblings, children of a and b's lowest common ancestor, that hold them."""
        pa, pb = a.split("::"), b.split("::")
        i = 0
        while pa[i] == pb[i]:
            i += 1
        return "::".join(pa[: i + 1]), "::".join(pb[: i + 1])

    graph = {m: set() for m in modules}
    for a, b in edges:
        ma, mb = owner(a), owner(b)
        if ma in modules and mb in modules and not related(ma, mb):
            sa, sb = lift(ma, mb)
            graph[sa].add(sb)

    # Tarjan's strongly connected components.
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    count = sum(len(s) for s in graph.values())
    if not out:
        print(f"{len(modules)} modules, {count} module-to-module edges: no cycles")
        return 0
    print(f"{len(modules)} modules, {count} module-to-module edges: {len(out)} cycle(s)")
    for comp in out:
        print("  cycle: " + " <-> ".join(comp))
        for a in comp:
            for b in sorted(graph[a] & set(comp)):
                print(f"    {a} -> {b}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
