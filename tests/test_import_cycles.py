"""No import cycle among the package's modules: imports point one way.

The graph is built from the AST of every module: ``from .x import y``, ``from ..x import y``,
``import lstm_inspector.x`` and ``from lstm_inspector.x import y``, imports inside functions
included (a lazy import is still a dependency: it only moves the cycle to run time). An edge
goes to the module imported (``from .pkg import mod`` -> ``pkg.mod`` when that is a module).
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lstm_inspector"
ROOT = PACKAGE.name


def module_names() -> dict:
    """``{dotted name: file}`` of every module of the package."""
    names = {}
    for file in PACKAGE.rglob("*.py"):
        parts = list(file.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = file
    return names


def imports_of(name: str, file: Path, modules: dict) -> set:
    is_package = file.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules
                       else source for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:   # import a.b.c of a package's name
                target = target.rpartition(".")[0]
            if target.split(".")[0] == ROOT and target != name:
                found.add(target)
    return found


def import_graph() -> dict:
    modules = module_names()
    return {name: imports_of(name, file, modules) for name, file in modules.items()}


def find_cycle(graph: dict):
    """One cycle as a list of module names (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_relative_absolute_and_function_level_imports():
    graph = import_graph()
    assert "lstm_inspector.paths.registry" in graph["lstm_inspector.paths.reference"]
    assert "lstm_inspector.core.reference" in graph["lstm_inspector.paths.reference"]  # in run()
    assert "lstm_inspector.cli.options" in graph["lstm_inspector.cli.compare"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_among_the_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
