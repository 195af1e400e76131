"""One parser for setting values (issue 23): the CLI, the REST service and the app's session read values alike."""

from __future__ import annotations

import argparse

import pytest
from fastapi import HTTPException

from emotion import settings
from emotion.cli import _bounded
from emotion.service.api import _settings
from emotion.settings import SettingError, parse_number, parse_settings, parse_value

INFOS = {i.name: i for i in settings.describe()}


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        ("nan", float, "'nan' is not a finite number"),
        ("1e400", float, "'1e400' is not a finite number"),
        ("٣", int, "'٣' is not an integer"),  # an Arabic-Indic digit: int() would take it
        ("2.5", int, "'2.5' is not an integer"),
        (True, int, "'True' is not an integer"),
        ("12", int, "12 is outside 1..10"),
        (" 7 ", int, None),
    ],
)
def test_numbers_are_refused_in_one_line(raw, kind, message):
    if message is None:
        assert parse_number(raw, kind, 1, 10) == 7
        return
    with pytest.raises(SettingError) as caught:
        parse_number(raw, kind, 1, 10)
    assert str(caught.value) == message


def test_yes_no_choices_and_text():
    assert parse_value(INFOS["save"], "Yes") is True and parse_value(INFOS["save"], "off") is False
    with pytest.raises(SettingError, match="is not yes or no"):
        parse_value(INFOS["save"], "maybe")
    with pytest.raises(SettingError, match="choose one of fer_cnn"):
        parse_value(INFOS["face_backend"], "../../etc/passwd", choices=("fer_cnn",))
    with pytest.raises(SettingError, match=r"^detector: choose one of"):
        parse_settings({"detector": "nope"})
    with pytest.raises(SettingError, match="unknown setting: bogus"):
        parse_settings({"bogus": "1"})


def test_cli_and_service_say_the_same():
    info = INFOS["min_face"]
    bad = str(int(info.lo) - 3)
    with pytest.raises(SettingError) as core:
        parse_number(bad, info.type, info.lo, info.hi)
    with pytest.raises(argparse.ArgumentTypeError) as cli:
        _bounded(info.type, info.lo, info.hi)(bad)
    with pytest.raises(HTTPException) as rest:
        _settings({"min_face": bad})
    assert str(cli.value) == str(core.value)
    assert rest.value.status_code == 422 and rest.value.detail == f"min_face: {core.value}"
