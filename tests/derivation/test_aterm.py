"""Examples for the ATerm parser and writer: real files, hand-made fixtures, real Nix, errors."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nix_audit.derivation.aterm import (
    Derivation,
    DerivationOutput,
    parse_derivation,
    parse_derivation_bytes,
    render_derivation,
)
from nix_audit.errors import DerivationError

Instantiate = Callable[[dict[str, object]], Path]


# --- real files ------------------------------------------------------------------------------


def test_every_real_file_round_trips_byte_for_byte(real_drvs: list[Path]) -> None:
    for path in real_drvs:
        text = path.read_text(encoding="utf-8")
        drv = parse_derivation(path)
        assert drv.path == str(path)
        # Nix writes no final newline; three of the vulnix fixtures gained one in an editor.
        # The parser tolerates it and the writer, like Nix, does not write it back.
        assert render_derivation(drv) == text.removesuffix("\n"), path.name


def test_real_cpio_values(shared_data: Path) -> None:
    drv = parse_derivation(shared_data / "drv" / "cpio-2.12.drv")
    assert drv.outputs == (
        DerivationOutput("out", "/nix/store/17rdhaypdan2f1gg4rcz50b0lpkr09wm-cpio-2.12", "", ""),
    )
    assert drv.input_drvs[1] == (
        "/nix/store/a03r8b5p2zaighb14bydzc9nbcjbyia5-CVE-2015-1197-cpio-2.12.patch.drv",
        ("out",),
    )
    assert len(drv.input_drvs) == 4
    assert drv.input_srcs[0].endswith("-CVE-2016-2037-out-of-bounds-write.patch")
    assert drv.system == "x86_64-linux"
    assert drv.builder == "/nix/store/h404wfcz8rzzlq8vr4z7plcijwzfci72-bash-4.4-p12/bin/bash"
    assert drv.args == ("-e", "/nix/store/9krlzvny65gdc8s7kpb6lkx8cd02c25b-default-builder.sh")
    assert drv.env_dict["name"] == "cpio-2.12"
    assert drv.env_dict["enableParallelBuilding"] == "1"
    assert [key for key, _ in drv.env] == sorted(drv.env_dict)


def test_real_escapes_are_decoded(shared_data: Path) -> None:
    bzip2 = parse_derivation(shared_data / "drv" / "bzip2-1.0.6.0.1.drv")
    assert bzip2.env_dict["postPatch"] == "sed -i -e '/<sys\\\\stat\\.h>/s|\\\\|/|' bzip2.c\n"
    sasl = parse_derivation(shared_data / "drv" / "cyrus-sasl-2.5.10.drv")
    assert '--replace "/nix/store/' in sasl.env_dict["postInstall"]
    assert sasl.output_paths[-1] == "/nix/store/k4m883xhgs5vrnxfgnq59vvk7vv12jmp-cyrus-sasl-2.5.10"
    assert [o.name for o in sasl.outputs] == ["bin", "dev", "devdoc", "man", "out"]
    assert ("/nix/store/iih95k8anxzqrjcl70wyhw5adm326fgi-openssl-1.0.2l.drv", ("dev", "out")) in (
        sasl.input_drvs
    )


# --- hand-made fixtures ----------------------------------------------------------------------


def test_escapes_fixture(drv_data: Path) -> None:
    path = drv_data / "escapes-1.0.drv"
    drv = parse_derivation(path)
    env = drv.env_dict
    assert env["quotes"] == "say \"hello\" and 'bye'"
    assert env["backslashes"] == "a\\b\\\\c\\n"
    assert env["controls"] == "line1\nline2\r\ttabbed\x01\x1f"
    assert env["unicode"] == "café ☃ 𝄞"
    assert env["empty"] == ""
    assert drv.args == ("-c", 'echo "hi" > $out')
    assert render_derivation(drv).encode("utf-8") == path.read_bytes()


def test_multiple_outputs_and_inputs_fixture(drv_data: Path) -> None:
    path = drv_data / "multi-out-2.3.drv"
    drv = parse_derivation(path)
    assert [o.name for o in drv.outputs] == ["bin", "dev", "man", "out"]
    assert drv.output_paths[0] == "/nix/store/n9l2q9lj3ihiv8qlm53xwx9s705lpc67-multi-out-2.3-bin"
    assert drv.input_drvs == (
        ("/nix/store/37w1n1mz0m7jrixkw9khfzf0j3896450-dep-0.1.drv", ("dev", "lib")),
    )
    assert drv.input_srcs == ("/nix/store/a8368pn7i7z3a9vklrz6p19x52zxbv16-h1src.txt",)
    assert drv.args == ()
    assert render_derivation(drv).encode("utf-8") == path.read_bytes()


def test_fixed_output_fixture_keeps_hash(drv_data: Path) -> None:
    drv = parse_derivation(drv_data / "fetched-1.2.tar.gz.drv")
    assert drv.outputs[0].hash_algo == "sha256"
    assert drv.outputs[0].hash == "0" * 64


def test_empty_lists_and_values() -> None:
    text = 'Derive([],[],[],"","",[],[])'
    drv = parse_derivation_bytes(text.encode(), "empty.drv")
    assert drv == Derivation("empty.drv", (), (), (), "", "", (), ())
    assert render_derivation(drv) == text


def test_unknown_escapes_mean_the_character() -> None:
    # Nix's parseString: "\c" for any c other than n, r, t is c itself.
    text = r'Derive([],[],[],"a\q\$\"\\","b\n\r\t",[],[])'
    drv = parse_derivation_bytes(text.encode(), "esc.drv")
    assert drv.system == 'aq$"\\'
    assert drv.builder == "b\n\r\t"
    assert render_derivation(drv) == r'Derive([],[],[],"aq$\"\\","b\n\r\t",[],[])'


def test_raw_newline_in_a_string_is_read_as_is() -> None:
    drv = parse_derivation_bytes(b'Derive([],[],[],"a\nb","",[],[])', "raw.drv")
    assert drv.system == "a\nb"


def test_env_dict_is_a_copy() -> None:
    drv = parse_derivation_bytes(b'Derive([],[],[],"","",[],[("k","v")])', "c.drv")
    drv.env_dict["k"] = "changed"
    assert drv.env_dict == {"k": "v"}


# --- real Nix --------------------------------------------------------------------------------

TRICKY = {
    "name": "tricky-1.0",
    "quote": 'a"b',
    "backslash": "a\\b\\",
    "escape_lookalikes": '\\n \\t \\r \\\\ \\"',
    "controls": "\n\r\t\x01\x7f",
    "unicode": "ünïcödé 漢字 🎉 \u2028",
    "brackets": '("x",["y"]),[]',
    "empty": "",
}


def test_nix_written_derivation_reads_back(instantiate: Instantiate) -> None:
    path = instantiate(dict(TRICKY))
    drv = parse_derivation(path)
    env = drv.env_dict
    for key, value in TRICKY.items():
        assert env[key] == value, key
    assert render_derivation(drv).encode("utf-8") == path.read_bytes()


def test_nix_written_structured_attrs_read_back(instantiate: Instantiate) -> None:
    path = instantiate({"name": "s-1", "__structuredAttrs": True, "list": ['q"', "\n"]})
    drv = parse_derivation(path)
    assert set(drv.env_dict) == {"__json", "out"}
    assert render_derivation(drv).encode("utf-8") == path.read_bytes()


# --- errors ----------------------------------------------------------------------------------

CPIO_HEAD = b'Derive([("out","/nix/store/17rdhaypdan2f1gg4rcz50b0lpkr09wm-cpio-2.12","","")]'


def _error(data: bytes, origin: str = "bad.drv") -> str:
    with pytest.raises(DerivationError) as info:
        parse_derivation_bytes(data, origin)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{origin}: offset ")
    return message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # truncated: inside a string, between tokens, inside the keyword
        (CPIO_HEAD[:30], "offset 30: expected '\"' closing the string, found end of input"),
        (CPIO_HEAD, "offset 78: expected ',', found end of input"),
        (b"Derive([", "offset 8: expected '(', found end of input"),
        (b"Deri", "offset 0: expected 'Derive', found 'Deri'"),
        (b"", "offset 0: expected 'Derive', found end of input"),
        # wrong keyword and wrong punctuation
        (b'Drive([],[],[],"","",[],[])', "offset 0: expected 'Derive', found 'Drive'"),
        (b'Derive[],[],[],"","",[],[])', "offset 6: expected '(', found '['"),
        (b'Derive( [],[],[],"","",[],[])', "offset 7: expected '[', found ' '"),
        (b'Derive([],[],["a" "b"],"","",[],[])', "offset 17: expected ',' or ']', found ' '"),
        (b'Derive([],[],[],x,"",[],[])', "offset 16: expected string, found 'x'"),
        (b'Derive([("out","p","")],[],[],"","",[],[])', "offset 21: expected ',', found ')'"),
        (b'Derive([],[],[],"","",[],[("k","v","w")])', "offset 34: expected ')', found ','"),
        (
            b'Derive([],[("/d.drv",[out])],[],"","",[],[])',
            "offset 22: expected string, found 'out'",
        ),
        # bad escape at the very end: the backslash takes the closing quote
        (
            b'Derive([],[],[],"abc\\"',
            "offset 22: expected '\"' closing the string, found end of input",
        ),
        (
            b'Derive([],[],[],"abc\\',
            "offset 21: expected '\"' closing the string, found end of input",
        ),
        # trailing garbage (a final newline alone is fine)
        (b'Derive([],[],[],"","",[],[])x', "offset 28: expected end of input, found 'x'"),
        (
            b'Derive([],[],[],"","",[],[])\nDerive',
            "offset 29: expected end of input, found 'Derive'",
        ),
        (b'Derive([],[],[],"","",[],[]))', "offset 28: expected end of input, found ')'"),
        # binary junk: invalid UTF-8, and valid UTF-8 that is not a derivation
        (b"\xff\xfe\x00junk", "offset 0: expected UTF-8 text, found byte 0xff"),
        (
            b'Derive([],[],[],"\xc3\x28","",[],[])',
            "offset 17: expected UTF-8 text, found byte 0xc3",
        ),
        (b"\x00\x01\x02", "offset 0: expected 'Derive', found '\\x00'"),
        (b"\x1f\x8b\x08\x00", "offset 1: expected UTF-8 text, found byte 0x8b"),  # gzip
    ],
)
def test_errors_name_origin_offset_and_expectation(data: bytes, message: str) -> None:
    assert _error(data) == f"bad.drv: {message}"


def test_error_offset_counts_bytes_not_characters() -> None:
    data = 'Derive([],[],["é☃"],"",x'.encode()
    # "é" is 2 bytes and "☃" 3 bytes in UTF-8: "x" is at byte 26, character 23.
    assert _error(data).endswith("offset 26: expected string, found 'x'")


def test_truncating_a_real_file_errors_at_the_cut(real_drvs: list[Path]) -> None:
    data = real_drvs[0].read_bytes().rstrip(b"\n")
    for cut in range(7, len(data), 37):
        assert f": offset {cut}: " in _error(data[:cut], origin=str(real_drvs[0]))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.drv"
    with pytest.raises(DerivationError, match=re.escape(f"{missing}: cannot read: ")):
        parse_derivation(missing)
    with pytest.raises(DerivationError, match=re.escape(f"{tmp_path}: cannot read: ")):
        parse_derivation(str(tmp_path))


def test_a_huge_broken_file_fails_fast() -> None:
    # An unterminated 4 MB string and 100,000 list items without the closing bracket: the
    # rejecting match must stay linear (possessive quantifiers), not backtrack.
    blob = b'Derive([],[],[],"' + b"a\\\\" * 1_000_000
    items = b"Derive([],[],[" + b",".join([b'"/nix/store/x"'] * 100_000) + b',"'
    start = time.perf_counter()
    assert _error(blob).endswith(
        f"offset {len(blob)}: expected '\"' closing the string, found end of input"
    )
    assert _error(items).endswith("closing the string, found end of input")
    assert time.perf_counter() - start < 2.0
