"""The rules of the house, checked on the code itself: import boundaries, settings and paths in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from emotion import settings

ROOT = settings.PROJECT_ROOT
PACKAGE = ROOT / "emotion"
LAYERS = {
    # a module's layer -> the layers it may import from (besides its own)
    "app": {"analysis", "learning", "report", "storage", "face", "voice", "base"},
    "service": {"analysis", "learning", "report", "storage", "face", "voice", "base"},
    "analysis": {"learning", "report", "storage", "face", "voice", "base"},
    "learning": {"storage", "face", "voice", "base"},
    "report": {"base"},
    "storage": {"base"},
    "face": {"base"},
    "voice": {"storage", "base"},
    "base": {"base"},
}
"""``base`` is the top-level modules (settings, labels, errors, files, record, media, privacy, cli); privacy and the
CLI sit above the rest and are checked on their own below."""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "base"


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


def test_imports_point_down():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module in ("emotion", "emotion.cli", "emotion.__main__", "emotion.privacy"):
            continue  # the public API, the CLI and privacy stand above the layers
        mine = _layer(module)
        for name in _imports(path):
            if not name.startswith("emotion.") or name in ("emotion.privacy", "emotion.cli"):
                continue
            theirs = _layer(name)
            if theirs != mine and theirs not in LAYERS[mine]:
                wrong.append(f"{module} -> {name}")
    assert wrong == []


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
