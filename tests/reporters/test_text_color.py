"""The text report in colour (rich tables), and hostile text in both text modes."""

from __future__ import annotations

import re

import pytest

from nix_audit.reporters.interface import ReportOptions
from nix_audit.reporters.text import TextReporter
from tests.reporters.conftest import Golden
from tests.reporters.hostile import BAD_CHARACTERS, HUGE, SCRIPT, hostile_result
from tests.reporters.sample import sample_result, vex_result

SGR = re.compile(r"\x1b\[[0-9;]*m")  # Select Graphic Rendition: the only escapes we emit
COLOR = ReportOptions(color=True)
ALL = ReportOptions(show_whitelisted=True, show_description=True, verbosity=1, color=True)


def color(options: ReportOptions = COLOR, width: int = 100) -> str:
    return TextReporter(width).render(sample_result(), options)


def test_golden(golden: Golden) -> None:
    golden("text_color.txt", color())
    golden("text_color_all.txt", color(ALL))


def test_colours_severities() -> None:
    text = color()
    assert "\x1b[1;31mCRITICAL" in text  # bold red
    assert "\x1b[31mHIGH" in text  # red
    assert "\x1b[33mwarning: advisory index" in text


def test_same_content_as_plain() -> None:
    plain = TextReporter(100).render(sample_result(), ReportOptions())
    coloured = SGR.sub("", color())
    for line in plain.splitlines():
        if line.startswith(("derivation:", "store path:", "closure:", "Advisory index", "warn")):
            assert line in coloured.splitlines()
    for word in re.findall(r"CVE-\d+-\d+|\b\w+-\d[\w.]*\b", plain):
        assert word in coloured


def test_whitelisted_and_patched_rows_with_their_options() -> None:
    text = SGR.sub("", color(ALL))
    assert re.search(r"CVE-2014-0224 +7\.4 +HIGH +whitelisted +reason: fix rolling out", text)
    assert re.search(r"CVE-2016-3189 +6\.5 +MEDIUM +patched", text)
    assert "CVE-2014-0224" not in color()  # hidden without -s


def test_environment_does_not_change_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    before = color(ALL)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERM", "dumb")
    assert color(ALL) == before


def test_plain_output_has_no_escapes() -> None:
    assert "\x1b" not in TextReporter().render(sample_result(), ReportOptions(verbosity=2))


@pytest.mark.parametrize("colour", [False, True])
def test_hostile_text_is_neutralised_and_cut(colour: bool) -> None:
    options = ReportOptions(show_whitelisted=True, show_description=True, verbosity=1, color=colour)
    text = TextReporter(100).render(hostile_result(), options)
    rest = SGR.sub("", text)
    for bad in BAD_CHARACTERS:
        assert bad not in rest
    assert SCRIPT in rest  # shown as the text it is: a terminal does not run HTML
    assert len(text) < HUGE // 20  # the 1 MB description was cut ...
    assert "\u2026" in rest  # ... with an ellipsis
    assert "[/]" not in rest and "evil|" in rest  # no markup interpretation either


def test_vex_and_hygiene_in_colour() -> None:
    options = ReportOptions(show_whitelisted=True, color=True)
    text = SGR.sub("", TextReporter(200).render(vex_result(), options))
    assert "not_affected" in text and "CVE-2018-25032" in text
    assert "VEX: not_affected (code_not_reachable)" in text
    assert 'warning: whitelist rule ["libxslt"] at /etc/nix-audit/wl.toml:1 has no cve list' in text
    plain = SGR.sub("", TextReporter(200).render(vex_result(), COLOR))
    assert "CVE-2018-25032" not in plain
