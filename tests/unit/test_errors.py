"""errors.one_line: any exception as one line, never an empty string and never an IndexError."""

from __future__ import annotations

import pytest

from emotion.errors import MediaError, one_line


def test_the_first_line_of_a_long_message():
    exc = RuntimeError("could not open the file\nTraceback (most recent call last):\n  File ...")
    assert one_line(exc) == "could not open the file"


def test_blank_lines_and_edges_are_skipped():
    assert one_line(ValueError("\n   \n  bad value  \nmore")) == "bad value"


@pytest.mark.parametrize("exc", [RuntimeError(), RuntimeError(""), MediaError("  \n ")])
def test_an_empty_message_gives_the_type_name(exc):
    assert one_line(exc) == type(exc).__name__


def test_the_limit_cuts_the_line_only():
    assert one_line(OSError("x" * 500 + "\ny"), 200) == "x" * 200
    assert one_line(KeyError("name")) == "'name'"
    assert one_line(RuntimeError(), 3) == "Run"
