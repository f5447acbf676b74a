"""The layers of docs/architecture.md, read from the module-level imports of src/openhitl.

Imports under `if TYPE_CHECKING:` count: a type named is a dependency too. Imports inside functions do not.
"""

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "openhitl"
DOMAINS = frozenset(
    {"accounts", "delivery", "loops", "notifications", "realtime", "requests", "reviewers", "webhooks"}
)
# What only the edge and the composition root may import: screens, HTTP-only packages, the app's assembly.
ABOVE_DOMAINS = frozenset({"web", "streams", "ops", "mcp_server", "app", "runtime", "channels", "cli"})


@dataclass(frozen=True)
class Import:
    source: str  # module, dotted: openhitl.requests.router
    target: str  # module or package imported from: openhitl.realtime.feed
    line: int

    def __str__(self) -> str:
        path = self.source.replace(".", "/")
        path += "/__init__.py" if (SOURCE.parent / path).is_dir() else ".py"
        return f"{path}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run when the module loads, and those under `if`/`try` at its top (TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            yield from module_level(node.body)
            yield from module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from module_level(block)


def resolve(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def openhitl_imports() -> list[Import]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        source = module_name(path)
        for node in module_level(ast.parse(path.read_text(), str(path)).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                module = resolve(source, path.name == "__init__.py", node)
                # `from openhitl.requests import waiting` imports the module openhitl.requests.waiting.
                targets = [
                    f"{module}.{alias.name}"
                    if (SOURCE.parent / module.replace(".", "/") / f"{alias.name}.py").exists()
                    or (SOURCE.parent / module.replace(".", "/") / alias.name).is_dir()
                    else module
                    for alias in node.names
                ]
            found += [
                Import(source, target, node.lineno) for target in targets if target.startswith("openhitl.")
            ]
    return found


def package(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to: openhitl.requests.router -> requests."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "openhitl"


def is_router(module: str) -> bool:
    """A module that makes an APIRouter of its own at its top."""
    path = SOURCE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        return False
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            function = node.value.func
            if isinstance(function, ast.Name) and function.id == "APIRouter":
                return True
    return False


IMPORTS = openhitl_imports()


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for neighbour in sorted(edges.get(node, ())):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def shortest_ring(start: str, edges: dict[str, set[str]], members: set[str]) -> list[str]:
    """The shortest way from `start` back to itself inside the group: [start, ..., start]."""
    paths = {
        neighbour: [start, neighbour] for neighbour in sorted(edges.get(start, ())) if neighbour in members
    }
    queue = list(paths)
    while queue:
        node = queue.pop(0)
        if node == start:
            return paths[node]
        for neighbour in sorted(edges.get(node, ())):
            if neighbour in members and neighbour not in paths:
                paths[neighbour] = [*paths[node], neighbour]
                queue.append(neighbour)
    raise AssertionError(f"{start} is in a group it cannot get back to")


def package_cycles(imports: list[Import]) -> list[str]:
    """For each group of packages that import each other: one shortest ring, with the imports on it."""
    by_edge: dict[tuple[str, str], list[str]] = {}
    for found in imports:
        source, target = package(found.source), package(found.target)
        if source != target and str(found) not in by_edge.setdefault((source, target), []):
            by_edge[(source, target)].append(str(found))
    edges: dict[str, set[str]] = {}
    for source, target in by_edge:
        edges.setdefault(source, set()).add(target)
    problems = []
    for group in cycles(edges):
        ring = shortest_ring(group[0], edges, set(group))
        steps = [
            f"  {source} -> {target}:\n" + "\n".join(f"    {line}" for line in by_edge[(source, target)])
            for source, target in itertools.pairwise(ring)
        ]
        problems.append(
            f"packages {', '.join(group)} import each other; one ring is {' -> '.join(ring)}:\n"
            + "\n".join(steps)
        )
    return problems


def forbidden(imports: list[Import]) -> list[str]:
    problems = []
    for found in imports:
        source, target = package(found.source), package(found.target)
        if source == target:
            continue
        if source == "kit" and target not in ("kit", "config"):
            problems.append(f"{found}: kit/ imports only kit/ and config")
        elif source in DOMAINS and target in ABOVE_DOMAINS:
            problems.append(f"{found}: a domain imports no screen, HTTP-only package or app assembly")
        elif is_router(found.source) and is_router(found.target):
            problems.append(f"{found}: a router imports no other router (move what both need to a service)")
    return problems


def test_the_package_graph_has_no_cycle() -> None:
    problems = package_cycles(IMPORTS)
    assert not problems, "\n".join(problems)


def test_no_import_crosses_the_layers() -> None:
    problems = forbidden(IMPORTS)
    assert not problems, "\n".join(problems)


def test_the_reading_finds_the_imports_it_judges() -> None:
    """The graph is read, not assumed: known imports are found, with their lines."""
    found = {(i.source, i.target) for i in IMPORTS}
    assert ("openhitl.requests.router", "openhitl.requests.waiting") in found
    assert ("openhitl.streams.router", "openhitl.requests.waiting") in found
    assert ("openhitl.kit.uow", "openhitl.kit.state") in found
    assert is_router("openhitl.requests.router") and is_router("openhitl.web.signin")
    assert not is_router("openhitl.requests.service")


@pytest.mark.parametrize(
    ("imports", "named"),
    [
        (
            [Import("openhitl.kit.state", "openhitl.accounts.keycache", 3)],
            "openhitl/kit/state.py:3 imports openhitl.accounts.keycache",
        ),
        (
            [Import("openhitl.accounts.signin", "openhitl.web.routing", 7)],
            "openhitl/accounts/signin.py:7 imports openhitl.web.routing",
        ),
        (
            [Import("openhitl.requests.router", "openhitl.streams.router", 9)],
            "openhitl/requests/router.py:9 imports openhitl.streams.router",
        ),
    ],
)
def test_a_forbidden_import_is_named(imports: list[Import], named: str) -> None:
    problems = forbidden(imports)
    assert len(problems) == 1 and problems[0].startswith(named)


def test_a_cycle_names_its_imports() -> None:
    ring = [
        Import("openhitl.requests.lifecycle", "openhitl.delivery.fanout", 14),
        Import("openhitl.delivery.fanout", "openhitl.webhooks.messages", 8),
        Import("openhitl.webhooks.messages", "openhitl.requests.presenter", 28),
        Import("openhitl.loops.models", "openhitl.kit.db", 5),
    ]
    (problem,) = package_cycles(ring)
    assert problem.startswith(
        "packages delivery, requests, webhooks import each other; one ring is delivery -> webhooks -> requests"
        " -> delivery"
    )
    assert "openhitl/requests/lifecycle.py:14 imports openhitl.delivery.fanout" in problem
    assert "openhitl/webhooks/messages.py:28 imports openhitl.requests.presenter" in problem
    assert "kit" not in problem
