"""The app's Streamlit configuration, as Streamlit itself reads it (issue 26 item 11)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def option(name: str) -> str:
    """``name`` as Streamlit reads it from the checkout's .streamlit/config.toml (in a child, run from the root)."""
    code = (
        "from streamlit import config; config.get_config_options(force_reparse=True); "
        f"print(config.get_option({name!r}))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return run.stdout.strip().splitlines()[-1]


def test_the_deploy_button_is_hidden():
    """"viewer" hides Streamlit's developer options, Deploy among them, even on localhost ("auto" shows them)."""
    assert option("client.toolbarMode") in ("viewer", "minimal")
