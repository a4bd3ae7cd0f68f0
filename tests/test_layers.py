"""Tests that duplex keeps its layers: each package imports only its own layer and those below it, and
no module imports itself back through a chain of others.

The layers, bottom up: duplex.protocol (the sans-I/O core), duplex.asyncio (transport, broadcast,
dispatch, workers, the client's transport), duplex.http (the HTTP/1.1 server), duplex.asgi (ASGI
applications on it), duplex.cluster (the
link to a broker), duplex.server (the 4D API), duplex.client (the 4D client and connect()), then the top: duplex.cli, duplex.__main__, duplex.demo and the facade,
duplex/__init__.py. Besides, duplex.server
reaches the core only through duplex.asyncio and duplex.http, never duplex.protocol itself (STYLE.md,
"one door").

The check reads the source (``ast`` for ``.py`` and ``.pyi``, a regex for the ``cimport`` lines of
``.pxd``) and imports nothing: every import counts, at the top of a module, under ``if TYPE_CHECKING:``
or inside a function. tests/protocol/test_layers.py checks, at runtime, that the core pulls in no I/O.
"""

from __future__ import annotations

import ast
import re
import shutil
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "duplex"
PACKAGE = "duplex"

#: The layers, bottom up: a module may import its own layer and those below.
LAYERS = ("protocol", "asyncio", "http", "asgi", "cluster", "server", "client", "top")

#: The layer of each name directly under duplex; "" is the facade, duplex/__init__.py itself.
PLACES = {
    "protocol": "protocol",
    "asyncio": "asyncio",
    "http": "http",
    "asgi": "asgi",
    "cluster": "cluster",
    "server": "server",
    "client": "client",
    "": "top",
    "cli": "top",
    "supervisor": "top",
    "__main__": "top",
    "demo": "top",
}

#: (importing layer, imported layer) pairs forbidden although they point down.
ONE_DOOR = {
    ("server", "protocol"): "the 4D API reaches the core only through duplex.asyncio and duplex.http",
    ("client", "protocol"): "the client reaches the core only through duplex.asyncio",
    ("asgi", "protocol"): "ASGI applications reach the core only through duplex.asyncio and duplex.http",
}

#: module -> imported module -> where ("duplex/http/upgrade.py:15"), for imports of duplex modules.
Graph = dict[str, dict[str, list[str]]]

# The .pxd imports: "from duplex.x cimport Y", "from .x cimport (Y, Z)", "cimport duplex.x as x".
PXD_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+c?import[ \t]+(\([^)]*\)|[^\n]*)", re.MULTILINE)
PXD_IMPORT = re.compile(r"^[ \t]*c?import[ \t]+([^\n]*)", re.MULTILINE)


def module_name(root: Path, path: Path) -> str:
    """The dotted name of the module in ``path``, a file under the package directory ``root``."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(root: Path, path: Path) -> str:
    """The package that relative imports in ``path`` start from."""
    return module_name(root, path.parent / "__init__.py")


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return PLACES.get(parts[1] if len(parts) > 1 else "")


def absolute(package: str, level: int, name: str | None) -> str:
    """``from <level dots><name> import ...`` written in ``package``, as an absolute module name."""
    if level == 0:
        return name or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{name}" if name else base


def targets(base: str, names: list[str], modules: set[str]) -> Iterator[str]:
    """The modules ``from base import names`` imports: a submodule where a name is one, else base."""
    for name in names:
        yield submodule if (submodule := f"{base}.{name}") in modules else base


def python_imports(path: Path, package: str, modules: set[str]) -> Iterator[tuple[str, int]]:
    """Every module a .py or .pyi file imports, wherever the statement sits, with its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = absolute(package, node.level, node.module)
            for target in targets(base, [alias.name for alias in node.names], modules):
                yield target, node.lineno


def pxd_imports(path: Path, package: str, modules: set[str]) -> Iterator[tuple[str, int]]:
    """Every module a .pxd file imports or cimports, with its line."""
    text = re.sub(r"#[^\n]*", "", path.read_text(encoding="utf-8"))
    for match in PXD_FROM.finditer(text):
        source, names = match.group(1), match.group(2).strip().strip("()")
        level = len(source) - len(source.lstrip("."))
        base = absolute(package, level, source.lstrip(".") or None)
        aliases = [name.split()[0] for name in names.split(",") if name.strip()]  # "Y as Z" -> "Y"
        line = text.count("\n", 0, match.start()) + 1
        for target in targets(base, aliases, modules):
            yield target, line
    for match in PXD_IMPORT.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        for name in match.group(1).split(","):
            if name.strip():
                yield name.split()[0], line


def collect(root: Path) -> Graph:
    """The import graph of the package in ``root``: every module, and the duplex modules it imports."""
    files = sorted(path for suffix in ("py", "pyi", "pxd") for path in root.rglob(f"*.{suffix}"))
    modules = {module_name(root, path) for path in files}
    graph: Graph = {module: {} for module in modules}
    for path in files:
        module, package = module_name(root, path), package_of(root, path)
        read = pxd_imports if path.suffix == ".pxd" else python_imports
        for target, line in read(path, package, modules):
            if target == PACKAGE or target.startswith(f"{PACKAGE}."):
                where = f"{path.relative_to(root.parent).as_posix()}:{line}"
                places = graph[module].setdefault(target, [])
                if where not in places:  # one entry for "from x import a, b"
                    places.append(where)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that reach each other, self-imports left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, {})):
            if target == module:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


def cycle_through(graph: Graph, start: str, members: set[str]) -> list[str]:
    """The shortest chain from ``start`` back to itself through ``members`` only (breadth first)."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(graph.get(module, {})):
            if target == start:
                chain = [module]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [*reversed(chain), start]
            if target in members and target not in came_from:
                came_from[target] = module
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # Tarjan put it in a group: there is one


def shortest_cycle(graph: Graph, group: list[str]) -> list[str]:
    """The group's shortest cycle, as a chain that starts and ends at its first module by name."""
    cycles = [cycle_through(graph, start, set(group))[:-1] for start in group]
    rotated = [cycle[cycle.index(min(cycle)) :] + cycle[: cycle.index(min(cycle))] for cycle in cycles]
    best = min(rotated, key=lambda cycle: (len(cycle), cycle))
    return [*best, best[0]]


def check(root: Path) -> list[str]:
    """The problems with the imports of the package in ``root`` (src/duplex or a copy): cycles, imports
    of a higher layer, imports across the one door, modules in no layer, imports of no module."""
    graph = collect(root)
    problems = [f"module {module} is in no layer" for module in sorted(graph) if layer_of(module) is None]
    for module, imported in sorted(graph.items()):
        here = layer_of(module)
        for target, where in sorted(imported.items()):
            there = layer_of(target)
            at = ", ".join(where)
            if target not in graph:
                problems.append(f"missing module: {module} imports {target}, which is no file [{at}]")
            if here is None or there is None:
                continue
            if LAYERS.index(there) > LAYERS.index(here):
                problems.append(f"upward import: {module} ({here}) -> {target} ({there}) [{at}]")
            if (here, there) in ONE_DOOR:
                why = ONE_DOOR[here, there]
                problems.append(f"one door: {module} ({here}) -> {target} ({there}): {why} [{at}]")
    for group in strongly_connected(graph):
        chain = shortest_cycle(graph, group)
        rest = sorted(set(group) - set(chain))
        also = f"; also tangled in it: {', '.join(rest)}" if rest else ""
        problems.append(f"import cycle: {' -> '.join(chain)}{also}")
    return problems


def test_the_source_tree_keeps_its_layers() -> None:
    problems = check(SOURCE)
    assert not problems, "\n".join(problems)


def test_the_check_sees_the_whole_tree() -> None:
    # The walk really covered the package, each kind of import statement and the .pxd files.
    graph = collect(SOURCE)
    assert len(graph) > 30, sorted(graph)
    for layer in LAYERS:
        assert any(layer_of(module) == layer for module in graph), layer
    edges = {(module, target) for module, imported in graph.items() for target in imported}
    for edge in [
        ("duplex.server.websocket_server", "duplex.http.upgrade"),  # from ..http.upgrade import
        ("duplex.http.http_server", "duplex.asyncio.websocket_protocol"),
        ("duplex.asyncio.dispatch", "duplex.asyncio.workers"),  # from .workers import
        ("duplex.http", "duplex.http.upgrade"),  # a package __init__ and its submodule
        ("duplex", "duplex.server.websocket_server"),  # under if TYPE_CHECKING:
        ("duplex.cli", "duplex.demo"),  # inside a function
        ("duplex.protocol.frames", "duplex.protocol._mask"),  # inside try:, a C module with a .pyi
        ("duplex.demo.chat", "duplex"),  # import duplex, the facade, from the top layer
        ("duplex.__main__", "duplex.cli"),
    ]:
        assert edge in edges, edge
    assert "duplex/asyncio/websocket_protocol.pxd:" in " ".join(
        graph["duplex.asyncio.websocket_protocol"]["duplex.asyncio.broadcast"]
    )
    assert "duplex/server/websocket_connection.pxd:" in " ".join(
        graph["duplex.server.websocket_connection"]["duplex.asyncio.dispatch"]
    )


def copy_source(tmp_path: Path) -> Path:
    """A copy of src/duplex to break on purpose (compiled modules left out: they may be rebuilding)."""
    root = tmp_path / PACKAGE
    shutil.copytree(SOURCE, root, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c", "static"))
    return root


def append(root: Path, file: str, code: str) -> str:
    """Append ``code`` to ``file`` in the copy; returns where its last line now is."""
    path = root / file
    path.write_text(path.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")
    return f"{PACKAGE}/{file}:{len(path.read_text(encoding='utf-8').splitlines())}"


UPWARD = "upward import: duplex.asyncio.broadcast (asyncio) -> duplex.server.errors (server)"


@pytest.mark.parametrize(
    ("file", "code"),
    [
        ("asyncio/broadcast.py", "from ..server import errors\n"),
        ("asyncio/broadcast.py", "if TYPE_CHECKING:\n    from duplex.server.errors import ErrorCode\n"),
        ("asyncio/broadcast.py", "def _late() -> None:\n    import duplex.server.errors\n"),
        ("asyncio/broadcast.pxd", "from duplex.server.errors cimport ErrorCode\n"),
    ],
    ids=["relative", "type-checking", "in-function", "pxd-cimport"],
)
def test_check_detects_an_upward_import(tmp_path: Path, file: str, code: str) -> None:
    # The same check, made to fail on purpose, proves that it can fail.
    root = copy_source(tmp_path)
    assert check(root) == []
    where = append(root, file, code)
    assert check(root) == [f"{UPWARD} [{where}]"]


def test_check_detects_an_import_through_the_one_door(tmp_path: Path) -> None:
    root = copy_source(tmp_path)
    where = append(root, "server/options.py", "from ..protocol.frames import build_frame\n")
    assert check(root) == [
        "one door: duplex.server.options (server) -> duplex.protocol.frames (protocol): "
        f"{ONE_DOOR['server', 'protocol']} [{where}]"
    ]


@pytest.mark.parametrize(
    ("file", "code", "cycle"),
    [
        (
            "http/routing.py",
            "from .http_server import HttpServer\n",
            "import cycle: duplex.http.http_server -> duplex.http.routing -> duplex.http.http_server"
            "; also tangled in it: duplex.http.http_protocol",
        ),
        (
            # A name from the package's __init__, which imports this module: a genuine cycle.
            "http/routing.py",
            "from . import Request\n",
            "import cycle: duplex.http -> duplex.http.http_server -> duplex.http.routing -> duplex.http"
            "; also tangled in it: duplex.http.http_protocol",
        ),
        # A sibling module named through the package: no cycle, duplex.http is not imported.
        ("http/routing.py", "from . import request\n", None),
        # The same, for a module the package's __init__ imports too.
        ("http/http_server.py", "from . import routing\n", None),
    ],
    ids=["sibling", "package-name", "package-module", "package-module-again"],
)
def test_check_detects_an_import_cycle(tmp_path: Path, file: str, code: str, cycle: str | None) -> None:
    root = copy_source(tmp_path)
    append(root, file, code)
    assert check(root) == ([cycle] if cycle else [])
