"""The rules of the house, checked on the code itself: import boundaries, settings and paths in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from emotion import settings

ROOT = settings.PROJECT_ROOT
PACKAGE = ROOT / "emotion"
LAYERS: list[tuple[str, ...]] = [
    ("__main__",),
    ("emotion", "cli"),
    ("app", "service"),
    ("analysis", "privacy"),
    ("learning", "report"),
    ("storage",),
    ("face", "voice"),
    ("media", "record"),
    ("labels", "settings", "errors", "files"),
]
"""The layers of ``emotion``, top to bottom: a module may import its own package and anything in a lower layer, never
a layer above or another package of its own layer. ``emotion`` is the package's ``__init__`` (the public API) and
``__main__`` is ``python -m emotion``."""
LAYER_MAP = " -> ".join(", ".join(f"`{name}`" for name in layer) for layer in LAYERS)
"""How the README and ``emotion/__init__.py`` write :data:`LAYERS` (line breaks aside)."""


def _modules() -> dict[str, Path]:
    """Every module of ``emotion`` by its dotted name (a package by its own name)."""
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in PACKAGE.rglob("*.py")
    }


def _imports(path: Path) -> set[str]:
    """Every name a file imports, at module level or inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    """Which ``emotion`` modules each one imports (``from emotion.voice import vad`` is an edge to the module vad)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        found = {n for n in _imports(path) if n in modules}
        submodules = {n for n in found if n.rsplit(".", 1)[0] in found}  # ``from p import m``: m, not p's __init__
        graph[name] = found - {n.rsplit(".", 1)[0] for n in submodules} - {name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of a graph: each set of two or more modules that reach one another (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(part) > 1:
                circles.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def _package(module: str) -> str:
    """The name :data:`LAYERS` gives a module: ``emotion.voice.vad`` -> ``voice``, ``emotion`` -> ``emotion``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _rank(module: str) -> int:
    """The layer of a module (0 is the top); KeyError for a module no layer names."""
    return next(i for i, layer in enumerate(LAYERS) if _package(module) in layer)


def _wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point up, or sideways to another package of the same layer."""
    return [
        f"{a} -> {b}"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if _package(a) != _package(b) and _rank(b) <= _rank(a)
    ]


def _python_files() -> list[Path]:
    skip = {".venv", ".git", "tests"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def test_only_the_app_imports_streamlit():
    allowed = {ROOT / "streamlit_app.py", *ROOT.glob("pages/*.py"), *PACKAGE.glob("app/*.py")}
    offenders = [
        str(p.relative_to(ROOT))
        for p in _python_files()
        if p not in allowed and any(n.split(".")[0] in ("streamlit", "streamlit_webrtc") for n in _imports(p))
    ]
    assert offenders == []


def test_the_checks_find_a_circle_and_an_import_that_points_up():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
    assert _wrong_way({"emotion.voice.vad": {"emotion.storage.versions", "emotion.settings"}}) == [
        "emotion.voice.vad -> emotion.storage.versions"
    ]
    assert _wrong_way({"emotion.face.model": {"emotion.voice.features"}}) == [
        "emotion.face.model -> emotion.voice.features"
    ]


def test_every_module_has_a_layer():
    assert [m for m in _modules() if not any(_package(m) in layer for layer in LAYERS)] == []


def test_no_import_circles():
    """Function-level imports count too: a circle broken only by importing late is still a circle."""
    assert _circles(_graph()) == []


def test_imports_point_down():
    assert _wrong_way(_graph()) == []


def test_the_readme_and_the_package_docstrings_state_the_layers():
    flat = " ".join((ROOT / "README.md").read_text().split())
    assert f"Imports point down only: {LAYER_MAP}." in flat
    api = " ".join((PACKAGE / "__init__.py").read_text().replace("``", "`").split())
    assert f"Layers, top to bottom: {LAYER_MAP};" in api
    for package in (p.parent for p in PACKAGE.glob("*/__init__.py")):
        below = {name for layer in LAYERS[_rank(f"emotion.{package.name}") + 1 :] for name in layer}
        doc = " ".join((ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or "").split())
        said = re.search(r"May import: ([^.]*)\.", doc)
        assert said, f"{package.name}/__init__.py does not say what it may import"
        assert set(re.findall(r"``(\w+)``", said.group(1))) == below, package.name


def test_exceptions_are_shown_in_one_line_by_one_function():
    """``errors.one_line`` is the one way: the inline ``str(exc).splitlines()[0]`` broke on an empty message."""
    inline = re.compile(r"str\((exc|e|err|error)\)(\.strip\(\))?\.splitlines\(\)")
    found = [str(p.relative_to(ROOT)) for p in _python_files() if inline.search(p.read_text())]
    assert found == ["emotion/errors.py"]


def test_only_settings_reads_the_environment():
    readers = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if p.name != "settings.py" and re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text())
    ]
    assert readers == []


def test_no_script_edits_sys_path_and_no_machine_paths():
    edits = [str(p.relative_to(ROOT)) for p in _python_files() if "sys.path.insert" in p.read_text()]
    assert edits == []
    home = re.compile(r"(?<![\w.])/(work|root|home|Users)/\w")
    texts = [*_python_files(), *ROOT.glob("*.md"), *ROOT.glob("models/*.md"), *ROOT.glob("models/*.json")]
    found = [str(p.relative_to(ROOT)) for p in texts if home.search(p.read_text(errors="ignore"))]
    assert found == []


def test_every_setting_is_described_and_grouped():
    infos = settings.describe()
    assert {i.group for i in infos} <= set(settings.GROUPS)
    assert all(i.label and i.help for i in infos)
    numbers = [i for i in infos if i.type in (int, float)]
    assert all(i.lo is not None and i.hi is not None and i.lo <= i.default <= i.hi for i in numbers)


def _names_imported(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == module for a in n.names}


def test_leaves_take_values_not_the_settings_object():
    """Face and voice receive the few values they need (quality.Limits, process.VoiceOptions), not Settings."""
    leaves = sorted([*(PACKAGE / "face").glob("*.py"), *(PACKAGE / "voice").glob("*.py")])
    given = {p.name: _names_imported(p, "emotion.settings") for p in leaves}
    assert not {name for name, names in given.items() if "Settings" in names}, given


def test_the_voice_defaults_are_the_settings_defaults():
    from emotion.settings import Settings
    from emotion.voice.process import Defaults

    defaults, base = Defaults.make(), Settings()
    assert all(getattr(defaults, f) == getattr(base, f) for f in Defaults.__dataclass_fields__)
