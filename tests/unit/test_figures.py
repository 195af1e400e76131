"""The README's figures come from the files training and the benchmarks write (issue 23): none is stale."""

from __future__ import annotations

from training.figures import BLOCKS, README, markers, stale


def test_the_readme_figures_are_generated_and_current():
    text = README.read_text(encoding="utf-8")
    assert all(all(m in text for m in markers(name)) for name in BLOCKS)
    assert stale() == [], "run `python -m training.figures` after training or benchmarking"
