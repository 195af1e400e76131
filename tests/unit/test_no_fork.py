"""No code forks a process that may have threads (issue 23): every process pool names a spawn or forkserver context.

The conftest guard catches a fork at run time in the tests that reach it; this check reads every source file, so a
pool that no test reaches cannot fork either.
"""

from __future__ import annotations

import ast
from pathlib import Path

from emotion import settings

ROOT = settings.PROJECT_ROOT
MAKERS = {"Pool", "Process", "ProcessPoolExecutor"}
SAFE = {"spawn", "forkserver"}


def _sources() -> list[Path]:
    folders = ("emotion", "training", "bench", "tests", "pages")
    return [ROOT / "streamlit_app.py", *(p for f in folders for p in sorted((ROOT / f).rglob("*.py")))]


def _unsafe(tree: ast.AST) -> list[int]:
    """Lines that make a process pool or process without a spawn/forkserver context, or that fork directly."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        if name == "fork" or name == "set_start_method" and not _names_safe(node):
            found.append(node.lineno)
        elif name == "ProcessPoolExecutor" and not any(k.arg == "mp_context" for k in node.keywords):
            found.append(node.lineno)
        elif name in {"Pool", "Process"} and not _from_safe_context(fn):
            found.append(node.lineno)
    return found


def _names_safe(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Constant) and a.value in SAFE for a in call.args)


def _from_safe_context(fn: ast.expr) -> bool:
    """``get_context("spawn").Pool(...)``; a plain ``Pool(...)`` or ``multiprocessing.Process(...)`` is not."""
    if not isinstance(fn, ast.Attribute):
        return False
    owner = fn.value
    return isinstance(owner, ast.Call) and _names_safe(owner) or isinstance(owner, ast.Name) and owner.id == "ctx"


def test_no_process_is_forked():
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [f"{path.relative_to(ROOT)}:{line}" for line in _unsafe(tree)]
    assert not bad, f"process pools must use a spawn or forkserver context: {bad}"


def test_the_check_sees_a_fork():
    forking = ast.parse("import multiprocessing as mp\nmp.Pool(2)\nfrom multiprocessing import Pool\nPool(2)\n")
    assert _unsafe(forking) == [2, 4]
    assert _unsafe(ast.parse("import multiprocessing as mp\nmp.get_context('spawn').Pool(2)\n")) == []
