"""CPE 2.3 formatted strings: fields, escapes, logical values, and what is not a CPE name."""

from __future__ import annotations

import pytest

from nix_audit.errors import AdvisoryError
from nix_audit.matching.cpe import ANY, NA, Cpe, parse_cpe


def test_fields_in_order() -> None:
    cpe = parse_cpe("cpe:2.3:a:openssl:openssl:1.0.1:f:ed:en:swed:tsw:thw:oth")
    assert cpe == Cpe(
        "a", "openssl", "openssl", "1.0.1", "f", "ed", "en", "swed", "tsw", "thw", "oth"
    )


def test_any_and_na() -> None:
    cpe = parse_cpe("cpe:2.3:o:microsoft:windows_8:-:*:*:*:*:*:*:*")
    assert cpe.part == "o"
    assert cpe.version == NA
    assert cpe.update == ANY
    assert cpe.other == ANY


def test_escaped_characters_are_unquoted() -> None:
    cpe = parse_cpe(r"cpe:2.3:a:nodejs:node\.js:1.0\-rc1:*:*:*:*:*:*:*")
    assert cpe.product == "node.js"
    assert cpe.version == "1.0-rc1"


def test_escaped_colon_does_not_split() -> None:
    cpe = parse_cpe(r"cpe:2.3:a:vendor:a\:b:2.0:*:*:*:*:*:*:*")
    assert cpe.product == "a:b"
    assert cpe.version == "2.0"


def test_escaped_backslash() -> None:
    assert parse_cpe(r"cpe:2.3:a:v:p\\q:1:*:*:*:*:*:*:*").product == "p\\q"


def test_quoted_lone_asterisk_is_not_any() -> None:
    cpe = parse_cpe(r"cpe:2.3:a:v:p:\*:\-:*:*:*:*:*:*")
    assert cpe.version not in (ANY, NA)
    assert cpe.update not in (ANY, NA)


def test_values_are_lower_case() -> None:
    assert parse_cpe("cpe:2.3:A:OpenSSL:OpenSSL:1.0.1:F:*:*:*:*:*:*").product == "openssl"


def test_parse_is_cached() -> None:
    s = "cpe:2.3:a:gnu:bash:4.3:*:*:*:*:*:*:*"
    assert parse_cpe(s) is parse_cpe(s)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cpe:/a:openssl:openssl:1.0.1", "start with"),
        ("cpe:2.2:a:openssl:openssl:1.0.1:*:*:*:*:*:*:*", "start with"),
        ("openssl", "start with"),
        ("cpe:2.3:a:openssl:openssl:1.0.1:*:*:*:*:*:*", "10 attributes"),
        ("cpe:2.3:a:openssl:openssl:1.0.1:*:*:*:*:*:*:*:*", "12 attributes"),
        ("cpe:2.3:a:openssl::1.0.1:*:*:*:*:*:*:*", "empty"),
        ("cpe:2.3:x:openssl:openssl:1.0.1:*:*:*:*:*:*:*", "part"),
        ("cpe:2.3:a:openssl:openssl:1.0.1:*:*:*:*:*:*:*\\", "backslash"),
    ],
)
def test_not_a_cpe_name(text: str, reason: str) -> None:
    with pytest.raises(AdvisoryError, match=r"not a CPE 2\.3 name") as caught:
        parse_cpe(text)
    message = str(caught.value)
    assert reason in message
    assert repr(text) in message
    assert "\n" not in message
