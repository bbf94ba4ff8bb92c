"""A derivation's attributes: the plain environment, or decoded structured attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nix_audit.derivation.aterm import Derivation, DerivationOutput, parse_derivation
from nix_audit.derivation.attrs import derivation_attrs
from nix_audit.errors import DerivationError


def _drv(env: tuple[tuple[str, str], ...]) -> Derivation:
    outputs = (DerivationOutput("out", "/nix/store/o"),)
    return Derivation("/x/bad.drv", outputs, (), (), "x86_64-linux", "/bin/sh", (), env)


def test_plain_environment(real_drvs: list[Path]) -> None:
    cpio = next(p for p in real_drvs if p.name == "cpio-2.12.drv")
    attrs = derivation_attrs(parse_derivation(cpio))
    assert attrs["name"] == "cpio-2.12"
    assert attrs["configureFlags"] == ""
    assert "__json" not in attrs


def test_real_structured_attrs(real_drvs: list[Path]) -> None:
    path = next(p for p in real_drvs if p.name == "structured-attrs-1.drv")
    attrs = derivation_attrs(parse_derivation(path))
    assert attrs["name"] == "structured-attrs-1"
    assert attrs["buildInputs"] == []
    special = attrs["specialChars"]
    assert isinstance(special, str)
    assert "'" in special and '"' in special and "\n" in special
    assert special == "single quote '\ndouble quote \"\n"
    # the output path comes from the environment, beside __json
    assert attrs["out"] == "/nix/store/zq65287l3ghx2qrk6wzi1xaffgvq5ms8-structured-attrs-1"
    assert "__json" not in attrs


def test_structured_attrs_keep_json_types(drv_data: Path) -> None:
    attrs = derivation_attrs(parse_derivation(drv_data / "structured-pkg.drv"))
    assert attrs["pname"] == "requests"
    assert attrs["flags"] == {"level": 3, "nothing": None, "ratio": 0.5, "verbose": True}
    assert attrs["outputs"] == ["out", "dist"]
    assert str(attrs["dist"]).endswith("-python3.11-requests-2.31.0-dist")


def test_json_wins_over_the_environment() -> None:
    attrs = derivation_attrs(_drv((("__json", '{"out": "from-json"}'), ("out", "from-env"))))
    assert attrs == {"out": "from-json"}


@pytest.mark.parametrize(
    ("encoded", "problem"),
    [
        ("{not json", "bad __json structured attributes: "),
        ("", "bad __json structured attributes: "),
        ('{"a": 1', "bad __json structured attributes: "),
        ("[1, 2]", "bad __json structured attributes: list, not an object"),
        ('"text"', "bad __json structured attributes: str, not an object"),
    ],
)
def test_bad_json_names_the_file(encoded: str, problem: str) -> None:
    with pytest.raises(DerivationError) as info:
        derivation_attrs(_drv((("__json", encoded),)))
    message = str(info.value)
    assert message.startswith(f"/x/bad.drv: {problem}")
    assert "\n" not in message
