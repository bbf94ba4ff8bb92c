"""The ATerm ``.drv`` format: parse a derivation file into a value, and write it back.

A store derivation is one ATerm expression (Nix manual, "Store Derivation"; Nix source
``libstore/derivations.cc``)::

    Derive([outputs],[inputDrvs],[inputSrcs],"system","builder",[args],[env])

with ``outputs`` as ``("out","/nix/store/...","hashAlgo","hash")``, ``inputDrvs`` as
``("/nix/store/x.drv",["out","dev"])`` and ``env`` as ``("name","value")``. Nix writes no
whitespace, and escapes exactly ``"`` ``\\`` newline, carriage return and tab in strings; on
reading, ``\\n`` ``\\r`` ``\\t`` are control characters and any other ``\\c`` means ``c``.

Speed matters (issue #3: 3,000 derivations within 0.5 s), and the grammar has a fixed nesting
depth, so it is regular: one compiled regular expression checks a whole file, and a few
``findall`` calls over its sections pull out the strings, with no per-character or
per-token Python loop. Only a file that this expression rejects goes through ``_Parser``, a
small recursive-descent parser of the same grammar, whose one job is to name the byte offset
and what it expected there (as pypa/packaging's parser errors do).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

from nix_audit.errors import DerivationError

__all__ = [
    "Derivation",
    "DerivationOutput",
    "parse_derivation",
    "parse_derivation_bytes",
    "render_derivation",
]


@dataclass(frozen=True, slots=True)
class DerivationOutput:
    """One output: its name, store path, and for fixed-output derivations the hash."""

    name: str
    path: str
    hash_algo: str = ""
    hash: str = ""


@dataclass(frozen=True, slots=True)
class Derivation:
    """A parsed store derivation; ``path`` is where it was read from (the ``.drv`` path)."""

    path: str
    outputs: tuple[DerivationOutput, ...]
    input_drvs: tuple[tuple[str, tuple[str, ...]], ...]
    input_srcs: tuple[str, ...]
    system: str
    builder: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def env_dict(self) -> dict[str, str]:
        """The environment as a new dict (a copy: the derivation itself stays immutable)."""
        return dict(self.env)

    @property
    def output_paths(self) -> tuple[str, ...]:
        """The store paths of all outputs, in file order (Nix sorts outputs by name)."""
        return tuple(output.path for output in self.outputs)


# --- reading ---------------------------------------------------------------------------------

# A string literal. Possessive quantifiers (Python 3.11) keep a rejected file from making the
# engine give characters back one by one, so a failed match costs linear time too.
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_STRING_RE = re.compile(_STRING, re.DOTALL)
_CONTENT_RE = re.compile(r'"([^"\\]*+(?:\\.[^"\\]*+)*+)"', re.DOTALL)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t"}
# Nix writes no newline after the term; a trailing one (added by an editor) is tolerated.
_TRAILER = "[ \t\r\n]*"
_TRAILER_RE = re.compile(_TRAILER)


def _list(item: str) -> str:
    """A bracketed, comma-separated, possibly empty list of ``item``, captured without []."""
    return rf"\[((?:{item}(?:,{item})*+)?)\]"


_OUTPUT = rf"\({_STRING},{_STRING},{_STRING},{_STRING}\)"
_INPUT_DRV = rf"\({_STRING},\[(?:{_STRING}(?:,{_STRING})*+)?\]\)"
_ENV_ITEM = rf"\({_STRING},{_STRING}\)"
_DERIVE_RE = re.compile(
    rf"Derive\({_list(_OUTPUT)},{_list(_INPUT_DRV)},{_list(_STRING)},"
    rf"({_STRING}),({_STRING}),{_list(_STRING)},{_list(_ENV_ITEM)}\){_TRAILER}",
    re.DOTALL,
)
_INPUT_DRV_RE = re.compile(rf"\(({_STRING}),\[((?:{_STRING}(?:,{_STRING})*+)?)\]\)", re.DOTALL)


def _unescape(raw: str) -> str:
    """The value of a string literal's body (Nix ``parseString``: ``\\c`` is ``c``)."""
    if "\\" not in raw:
        return raw
    return _ESCAPE_RE.sub(lambda m: _UNESCAPE.get(m[1], m[1]), raw)


def _strings(text: str, start: int, end: int) -> list[str]:
    """The values of all string literals in ``text[start:end]`` (a section already checked).

    Without a backslash in the section every ``"`` delimits a string, so a split finds them
    all at a fraction of the cost of a regular expression (most sections have no escapes).
    """
    section = text[start:end]
    if "\\" not in section:
        return section.split('"')[1::2]
    return [_unescape(raw) for raw in _CONTENT_RE.findall(section)]


def _input_drvs(text: str, start: int, end: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The ``inputDrvs`` section (already checked) as (path, output names) pairs."""
    section = text[start:end]
    if "\\" in section:
        return tuple(
            (_unescape(path[1:-1]), tuple(_unescape(s) for s in _CONTENT_RE.findall(names)))
            for path, names in _INPUT_DRV_RE.findall(section)
        )
    # Split at the quotes: even pieces are punctuation, odd pieces strings. A string right
    # after an opening "(" is a derivation path; the others are its output names. There is
    # one more punctuation piece than strings (the tail), hence strict=False.
    parts = section.split('"')
    entries: list[tuple[str, list[str]]] = []
    for punctuation, value in zip(parts[0::2], parts[1::2], strict=False):
        if punctuation.endswith("("):
            entries.append((value, []))
        else:
            entries[-1][1].append(value)
    return tuple((path, tuple(names)) for path, names in entries)


def _build(match: re.Match[str], origin: str) -> Derivation:
    """Turn a full match of ``_DERIVE_RE`` into a Derivation."""
    text = match.string
    flat = _strings(text, *match.span(1))
    outputs = tuple(map(DerivationOutput, flat[0::4], flat[1::4], flat[2::4], flat[3::4]))
    input_drvs = _input_drvs(text, *match.span(2))
    env = _strings(text, *match.span(7))
    return Derivation(
        path=origin,
        outputs=outputs,
        input_drvs=input_drvs,
        input_srcs=tuple(_strings(text, *match.span(3))),
        system=_unescape(match[4][1:-1]),
        builder=_unescape(match[5][1:-1]),
        args=tuple(_strings(text, *match.span(6))),
        env=tuple(zip(env[0::2], env[1::2], strict=True)),
    )


def parse_derivation_bytes(data: bytes, origin: str) -> Derivation:
    """Parse the bytes of a ``.drv`` file; ``origin`` names it in errors and becomes ``path``.

    Raises ``DerivationError("<origin>: offset <N>: expected <what>, found <what>")``, with
    ``N`` the byte offset of the offending token, for anything that is not a derivation.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DerivationError(
            f"{origin}: offset {e.start}: expected UTF-8 text, found byte 0x{data[e.start]:02x}"
        ) from e
    match = _DERIVE_RE.fullmatch(text)
    if match is not None:
        return _build(match, origin)
    return _Parser(text, origin).parse()


def parse_derivation(path: str | Path) -> Derivation:
    """Read and parse a ``.drv`` file."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DerivationError(f"{path}: cannot read: {e.strerror or e}") from e
    return parse_derivation_bytes(data, str(path))


_T = TypeVar("_T")


class _Parser:
    """Recursive descent over the same grammar as ``_DERIVE_RE``, for precise errors.

    It is only run on text the expression rejected, and then raises at the first token that
    does not fit; it returns a Derivation too, so tests can check both readers agree.
    """

    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.origin = origin
        self.pos = 0

    def parse(self) -> Derivation:
        self.literal("Derive")
        self.literal("(")
        outputs = self.items(self.output)
        self.literal(",")
        input_drvs = self.items(self.input_drv)
        self.literal(",")
        input_srcs = self.items(self.string)
        self.literal(",")
        system = self.string()
        self.literal(",")
        builder = self.string()
        self.literal(",")
        args = self.items(self.string)
        self.literal(",")
        env = self.items(self.env_item)
        self.literal(")")
        trailer = _TRAILER_RE.match(self.text, self.pos)
        self.pos = trailer.end() if trailer else self.pos
        if self.pos != len(self.text):
            self.fail("end of input")
        return Derivation(self.origin, outputs, input_drvs, input_srcs, system, builder, args, env)

    def output(self) -> DerivationOutput:
        self.literal("(")
        name, path = self.string(), self.comma_string()
        algo, digest = self.comma_string(), self.comma_string()
        self.literal(")")
        return DerivationOutput(name, path, algo, digest)

    def input_drv(self) -> tuple[str, tuple[str, ...]]:
        self.literal("(")
        path = self.string()
        self.literal(",")
        names = self.items(self.string)
        self.literal(")")
        return path, names

    def env_item(self) -> tuple[str, str]:
        self.literal("(")
        item = self.string(), self.comma_string()
        self.literal(")")
        return item

    def items(self, item: Callable[[], _T]) -> tuple[_T, ...]:
        """``[item,item,...]``: after each item, a ``,`` or the closing ``]`` must follow."""
        self.literal("[")
        values: list[_T] = []
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return ()
        while True:
            values.append(item())
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif self.text.startswith("]", self.pos):
                self.pos += 1
                return tuple(values)
            else:
                self.fail("',' or ']'")

    def comma_string(self) -> str:
        self.literal(",")
        return self.string()

    def string(self) -> str:
        match = _STRING_RE.match(self.text, self.pos)
        if match is None:
            if self.text.startswith('"', self.pos):
                # No closing quote anywhere after: the file was cut short inside a string.
                self.pos = len(self.text)
                self.fail("'\"' closing the string")
            self.fail("string")
        self.pos = match.end()
        return _unescape(match[0][1:-1])

    def literal(self, expected: str) -> None:
        if not self.text.startswith(expected, self.pos):
            self.fail(repr(expected))
        self.pos += len(expected)

    def fail(self, expected: str) -> NoReturn:
        offset = len(self.text[: self.pos].encode("utf-8"))
        raise DerivationError(
            f"{self.origin}: offset {offset}: expected {expected}, found {self.found()}"
        )

    def found(self) -> str:
        """A one-line description of the token at the cursor."""
        rest = self.text[self.pos :]
        if not rest:
            return "end of input"
        if rest[0] == '"':
            return "string"
        word = re.match(r"\w{1,20}", rest)
        return repr(word[0] if word else rest[0])


# --- writing ---------------------------------------------------------------------------------

# Exactly the escapes of Nix's ``printString``; everything else is written as is.
_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _quote(value: str) -> str:
    return '"' + value.translate(_ESCAPES) + '"'


def _quoted_list(values: tuple[str, ...]) -> str:
    return "[" + ",".join(map(_quote, values)) + "]"


def render_derivation(drv: Derivation) -> str:
    """The ATerm text Nix would write for ``drv`` (no trailing newline)."""
    outputs = ",".join(
        f"({_quote(o.name)},{_quote(o.path)},{_quote(o.hash_algo)},{_quote(o.hash)})"
        for o in drv.outputs
    )
    inputs = ",".join(f"({_quote(p)},{_quoted_list(names)})" for p, names in drv.input_drvs)
    env = ",".join(f"({_quote(k)},{_quote(v)})" for k, v in drv.env)
    return (
        f"Derive([{outputs}],[{inputs}],{_quoted_list(drv.input_srcs)},"
        f"{_quote(drv.system)},{_quote(drv.builder)},{_quoted_list(drv.args)},[{env}])"
    )
