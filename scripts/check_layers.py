"""Draw agentlog's import graph and check that its layers hold.

    .venv/bin/python scripts/check_layers.py          # exit 1 and the offending imports, else 0
    .venv/bin/python scripts/check_layers.py --graph  # also print every module's layer and imports

Every import counts, those inside functions too (a lazy import is still a dependency). Layers,
top to bottom; a module may import its own layer or lower ones, never a higher one, and the
module graph has no cycle (two modules that import each other, directly or around a loop).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "agentlog"

# (layer, module prefixes): the first layer whose prefix matches a module is its layer
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("cli", ("agentlog.cli", "agentlog.__main__", "agentlog")),
    (
        "services",
        (
            "agentlog.jobs",
            "agentlog.guard",
            "agentlog.otel",
            "agentlog.fleet",
            "agentlog.mcp",
            "agentlog.demo",
            "agentlog.doctor",
        ),
    ),
    ("views", ("agentlog.report", "agentlog.replay", "agentlog.web")),
    ("intelligence", ("agentlog.anomaly", "agentlog.advise", "agentlog.ab")),
    ("agents", ("agentlog.agents",)),
    ("capture/analytics", ("agentlog.capture", "agentlog.analytics", "agentlog.testing")),
    # risk: features, model and scoring over watch events, used by the `risk` detector
    ("watch", ("agentlog.watch", "agentlog.risk")),
    ("recorder/intel", ("agentlog.recorder", "agentlog.intel", "agentlog.redact")),
    ("store", ("agentlog.store",)),
    (
        "base",
        (
            "agentlog.events",
            "agentlog.config",
            "agentlog.plugins",
            "agentlog.jsonline",
            "agentlog.timeutil",
            "agentlog.terminal",
            "agentlog.otlp_values",
            "agentlog.formatting",
            "agentlog.context_windows",
        ),
    ),  # formatting: numbers and times for people
]


NATIVE = {f"{PACKAGE}._core"}  # the Rust extension module: the bottom layer, importing nothing of ours


def layer_of(module: str) -> int:
    best = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    if best is None:
        raise SystemExit(f"{module}: in no layer; add it to LAYERS in {__file__}")
    return best[0]


def modules(src: Path = SRC) -> dict[str, Path]:
    found = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The agentlog modules `module` imports (a package's __init__ counts as the package)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [
                f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix
                for alias in node.names
                if prefix not in NATIVE and f"{prefix}.{alias.name}" not in NATIVE
            ]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import agentlog.x.y` depends on agentlog.x.y (or the nearest)
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def problems(src: Path = SRC) -> list[str]:
    known = modules(src)
    # a package imports its own submodules (to discover them, or to re-export): those arrows
    # point into the package, not up or down the layers, and the package is their parent
    graph = {
        m: {i for i in imports_of(m, p, known) if not (p.name == "__init__.py" and i.startswith(m + "."))}
        for m, p in known.items()
    }
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if layer_of(target) < layer_of(module):
                found.append(
                    f"upward: {module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    for component in cycles(graph):
        found.append(f"cycle: {' <-> '.join(component)}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print every module's layer and imports")
    args = parser.parse_args()
    if args.graph:
        known = modules()
        for module, path in known.items():
            print(f"{LAYERS[layer_of(module)][0]:18} {module} -> {', '.join(sorted(imports_of(module, path, known)))}")
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} problem(s); layers top to bottom: {' > '.join(name for name, _ in LAYERS)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
