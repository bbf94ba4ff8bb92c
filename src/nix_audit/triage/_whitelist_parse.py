"""Reading vulnix whitelist text (TOML or YAML) into validated rule fields with line numbers.

The formats are vulnix's, as its manual page vulnix-whitelist(5) describes them:

- TOML: one section per rule, headed ``["<pname>-<version>"]``, ``["<pname>"]`` or ``["*"]``,
  with the optional keys ``cve``, ``until``, ``comment``, ``issue_url`` and ``status``;
- YAML (vulnix's older format): a list of mappings with ``name``, ``version`` and the same keys.

Where vulnix only logs unknown keys, we refuse them: a misspelt ``until`` would otherwise make
a temporary exception permanent without anyone noticing.

Shapes that vulnix loads but never applies as its author likely meant (a ``["discourse-*"]``
header, ``cve = "*"``, a lower-case CVE id, an empty ``cve`` list) load with vulnix's meaning,
each with a note in ``RuleFields.notes`` for the triage hygiene report (issue #13). The vulnix
behaviour each rule follows is cited from nix-community/vulnix ``src/vulnix/whitelist.py``
(``split_name``, ``WhitelistRule.__init__``, ``covers``, ``Whitelist.candidates``) and
``src/vulnix/output.py`` (``Filtered.add``).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from nix_audit.errors import TriageError

if TYPE_CHECKING:
    import yaml

__all__ = ["CVE_ID", "RuleFields", "parse_toml", "parse_yaml", "split_section"]

# CVE ids as the CVE program assigns them: a year and four or more digits (CVE JSON 5 schema,
# "cveId" pattern ^CVE-[0-9]{4}-[0-9]{4,19}$).
CVE_ID = re.compile(r"CVE-\d{4}-\d{4,19}")
# vulnix: datetime.strptime(until, "%Y-%m-%d"), which also takes 2018-3-1 (no zero padding).
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
# vulnix-whitelist(5): "program: the part of a derivation name before the first dash
# followed by a digit"; the version is the rest.
_VERSION_DASH = re.compile(r"-(?=\d)")
# Whitespace and control characters never occur in Nix store path names (Nix manual, "Store
# Path": letters, digits and + - . _ ? =), so a name holding one is a mistake in the file.
_BAD_NAME_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")

_RULE_KEYS = frozenset({"cve", "until", "comment", "issue_url", "status"})
_YAML_KEYS = _RULE_KEYS | {"name", "version"}

# "(at line 3, column 8)" / "(at end of document)" closes every tomllib error message (3.11).
_TOML_WHERE = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)\s*$")
_TOML_HEADER = re.compile(r"""^\s*\[(?!\[)\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\]\s]+)\s*\]""")
_TOML_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


@dataclass(frozen=True, slots=True)
class RuleFields:
    """One rule as written in the file, validated; ``name`` is a pname or ``*``."""

    name: str
    version: str | None
    cves: frozenset[str] | None
    until: date | None
    issue_urls: tuple[str, ...]
    comments: tuple[str, ...]
    line: int
    notes: tuple[str, ...] = ()  # where vulnix's meaning is surprising (hygiene warnings)


Fail = Callable[[str], TriageError]


def split_section(section: str) -> tuple[str, str | None]:
    """``openssl-1.0.1f`` -> (``openssl``, ``1.0.1f``); ``libxslt`` -> (``libxslt``, None).

    As vulnix's ``split_name``: a trailing ``.drv`` is dropped first, and a header without a
    dash followed by a digit is all name: ``discourse-*`` is the pname ``discourse-*``.
    """
    section = section.removesuffix(".drv")
    match = _VERSION_DASH.search(section)
    if match is None:
        return section, None
    return section[: match.start()], section[match.end() :]


def _failer(origin: str, line: int) -> Fail:
    """An error maker for one place in the file: ``<origin>: line N: <problem>``."""
    return lambda problem: TriageError(f"{origin}: line {line}: {problem}")


# --- TOML ----------------------------------------------------------------------------------


def parse_toml(text: str, origin: str) -> list[RuleFields]:
    """The rules of a TOML whitelist; ``TriageError`` names the line of the first problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        where = _TOML_WHERE.search(message)
        line = int(where.group(1)) if where and where.group(1) else max(1, text.count("\n"))
        problem = message[: where.start()] if where else message
        raise _failer(origin, line)(f"invalid TOML: {problem}") from e
    lines = _toml_lines(text)
    rules = []
    for section, body in document.items():
        line, key_lines = lines.get(section, (_first_line_with(text, section), {}))
        fail = _failer(origin, line)
        if not isinstance(body, dict):
            raise fail(f'{section!r} is not a section: rules start with a header like ["name"]')
        if any(isinstance(value, dict) for value in body.values()):
            # tomllib reads [openssl-1.0.1f] as nested tables openssl-1 > 0 > 1f.
            written = next((h for h in lines if h.startswith(f"{section}.")), section)
            fail = _failer(origin, lines.get(written, (line, {}))[0])
            raise fail(f'section header [{written}] must be quoted, as in ["{written}"]')
        name, version = split_section(section)
        # vulnix WhitelistRule.__init__: ``pname or '*'``, so a [""] header means every package.
        rules.append(_rule_fields(body, name or "*", version, _RULE_KEYS, origin, line, key_lines))
    return rules


def _toml_lines(text: str) -> dict[str, tuple[int, dict[str, int]]]:
    """Section name -> (line of its header, key -> line), for error messages only.

    tomllib reports positions only for syntax errors, so the lines of a valid document's
    sections and keys are found again here with a line-oriented scan.
    """
    found: dict[str, tuple[int, dict[str, int]]] = {}
    keys: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_HEADER.match(line)
        if header:
            keys = {}
            found.setdefault(_unquote(header.group(1)), (number, keys))
            continue
        key = _TOML_KEY.match(line)
        if key:
            keys.setdefault(_unquote(key.group(1)), number)
    return found


def _unquote(raw: str) -> str:
    """A TOML key as written -> its value (basic strings share JSON's common escapes)."""
    if raw.startswith("'"):
        return raw[1:-1]
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except ValueError:
            return raw[1:-1]
        return value if isinstance(value, str) else raw[1:-1]
    return raw


def _first_line_with(text: str, needle: str) -> int:
    """The first line mentioning ``needle`` (1 when none): a best effort for odd documents."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


# --- YAML ----------------------------------------------------------------------------------


def parse_yaml(text: str, origin: str) -> list[RuleFields]:
    """The rules of a YAML whitelist; ``TriageError`` names the line of the first problem."""
    import yaml  # most whitelists are TOML: a scan need not load PyYAML

    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as e:  # the reader rejects control characters already here (issue #6)
        raise TriageError(f"{origin}: invalid YAML: {' '.join(str(e).split())}") from e
    try:
        root = loader.get_single_node()
        if root is None:
            return []
        if not isinstance(root, yaml.SequenceNode):
            line = root.start_mark.line + 1
            raise _failer(origin, line)("expected a list of rules (vulnix YAML whitelist)")
        return [_yaml_rule(loader, node, origin) for node in root.value]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise _failer(origin, line)(f"invalid YAML: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise TriageError(f"{origin}: invalid YAML: {' '.join(str(e).split())}") from e
    finally:
        loader.dispose()


def _yaml_rule(loader: yaml.SafeLoader, node: yaml.Node, origin: str) -> RuleFields:
    """One list item: a mapping of vulnix's YAML keys, constructed key by key for line numbers."""
    import yaml

    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise _failer(origin, line)("a rule must be a mapping with 'name', 'cve', ...")
    body: dict[str, object] = {}
    key_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        fail = _failer(origin, key_line)
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise fail(f"key {key!r} is not a string")
        if key in body:
            raise fail(f"duplicate key {key!r}")
        try:
            body[key] = loader.construct_object(value_node, deep=True)
        except ValueError as e:  # e.g. "until: 2018-02-30" fails in PyYAML's date constructor
            raise _failer(origin, value_node.start_mark.line + 1)(f"bad {key}: {e}") from e
        key_lines[key] = key_line
    name = body.pop("name", None)
    version = body.pop("version", None)
    if name is not None and not isinstance(name, str):
        raise _failer(origin, key_lines["name"])("name must be a string")
    if version is not None and not isinstance(version, str):
        # 2.10 read as a float is 2.1: refuse rather than whitelist the wrong version.
        raise _failer(origin, key_lines["version"])(f"version {version!r} must be a quoted string")
    # vulnix WhitelistRule.__init__: ``version or '*'``; "*" and "" mean every version.
    version = None if version in ("", "*") else version
    return _rule_fields(body, name or "*", version, _YAML_KEYS, origin, line, key_lines)


# --- fields, shared by both formats --------------------------------------------------------


def _rule_fields(
    body: Mapping[str, object],
    name: str,
    version: str | None,
    allowed: frozenset[str],
    origin: str,
    line: int,
    key_lines: Mapping[str, int],
) -> RuleFields:
    """Validate one rule's keys and values."""

    def fail_at(key: str) -> Fail:
        return _failer(origin, key_lines.get(key, line))

    unknown = sorted(set(body) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed))
        raise fail_at(unknown[0])(f"unknown key {unknown[0]!r} (expected one of: {expected})")
    notes = list(_check_name(name, version, _failer(origin, line)))
    cves = None
    if "cve" in body:
        cves, cve_notes = _cves(body["cve"], fail_at("cve"))
        notes += cve_notes
    if name == "*" and cves is None:
        # vulnix-whitelist(5): for ["*"] "the cve field must be specified"; vulnix raises
        # "either pname or CVE must be set" for an empty cve list too.
        raise _failer(origin, line)("a rule for every package ('*') needs a 'cve' list")
    return RuleFields(
        name=name,
        version=version,
        cves=cves,
        until=_until(body["until"], fail_at("until")) if "until" in body else None,
        issue_urls=_urls(body.get("issue_url", []), fail_at("issue_url")),
        comments=_strings(body.get("comment", []), "comment", fail_at("comment")),
        line=line,
        notes=tuple(notes),
    )


def _check_name(name: str, version: str | None, fail: Fail) -> list[str]:
    """A pname (or ``*``) and a version as Nix names could hold them; notes for odd ones.

    vulnix has no glob patterns: ``Whitelist.candidates`` looks a derivation up under
    ``pname-version``, ``pname`` and ``*`` only, and ``covers`` compares pname and version
    with ``==``. So a header such as ``["discourse-*"]`` (pname ``discourse-*``) or
    ``["*-1.0"]`` (pname ``*``, version ``1.0``) loads and never applies to any package.
    """
    if _BAD_NAME_CHAR.search(name) or (version is not None and _BAD_NAME_CHAR.search(version)):
        raise fail(f"package name {name!r} contains whitespace or control characters")
    header = name if version is None else f"{name}-{version}"
    if "*" in name and name != "*":
        meant = name.removesuffix("-*").removesuffix("*")
        hint = f'; write ["{meant}"] to cover every version' if meant and "*" not in meant else ""
        return [
            f'vulnix reads ["{header}"] as the package name "{name}" ("*" is no wildcard '
            f"there), so it never applies this rule; nor does nix-audit{hint}"
        ]
    if name == "*" and version is not None:
        return [
            f'vulnix reads ["{header}"] as the package "*" at version {version}, which no '
            'package has, so it never applies this rule; nor does nix-audit; write ["*"] '
            "with a cve list"
        ]
    return []


def _strings(value: object, key: str, fail: Fail) -> tuple[str, ...]:
    """A string or a list of strings (vulnix accepts both for comment and issue_url)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise fail(f"{key} must be a string or a list of strings")
    return tuple(str(item) for item in items)


def _cves(value: object, fail: Fail) -> tuple[frozenset[str] | None, list[str]]:
    """The ``cve`` list with vulnix's meaning, and notes where that meaning surprises.

    vulnix (``WhitelistRule.__init__``) takes a list or a lone string, and an empty list is
    falsy, so ``covers`` and ``Filtered.add`` treat it as no ``cve`` key: every CVE (None).
    ``Filtered.add`` masks a finding when ``vuln.cve_id in rule.cve``, an exact string test:
    ``"*"`` and ids not written in upper case match no NVD id, so they are kept as written and
    match nothing here either. Other text is refused as a mistake (issue #6).
    """
    if not isinstance(value, str | list):
        raise fail(f"cve must be a list of CVE ids, not {type(value).__name__}")
    ids = _strings(value, "cve", fail)
    if not ids:
        return None, [
            "an empty cve list whitelists every CVE of the package in vulnix, as leaving "
            "out cve does; so it does here"
        ]
    notes = []
    for item in sorted(set(ids)):
        if CVE_ID.fullmatch(item):
            continue
        if item == "*":
            rest = " but its other CVEs" if len(set(ids)) > 1 else ""
            notes.append(
                'cve "*" is no wildcard in vulnix: it matches no CVE, so this rule hides '
                f"nothing{rest}; nix-audit keeps that meaning; leave out cve to cover every "
                "CVE of the package"
            )
        elif CVE_ID.fullmatch(item.strip().upper()):
            notes.append(
                f"cve {item!r} never matches in vulnix, which compares ids exactly with the "
                f"upper-case NVD ones; nix-audit keeps that meaning; write "
                f"{item.strip().upper()!r}"
            )
        else:
            raise fail(f"malformed CVE id {item!r} (expected CVE-YYYY-NNNN)")
    return frozenset(ids), notes


def _until(value: object, fail: Fail) -> date:
    """The expiry date: a TOML/YAML date, or a string YYYY-MM-DD as vulnix parses it."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return datetime.strptime(value.strip(), "%Y-%m-%d").date()
        except ValueError as e:
            raise fail(f"bad date {value!r} for until: {e}") from e
    raise fail(f"bad date {value!r} for until (expected YYYY-MM-DD)")


def _urls(value: object, fail: Fail) -> tuple[str, ...]:
    """Issue URLs; vulnix requires a scheme, a host and a path, we require http(s) and a host."""
    urls = _strings(value, "issue_url", fail)
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:  # "Invalid IPv6 URL" for a stray bracket (issue #6)
            raise fail(f"issue_url {url!r} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail(f"issue_url {url!r} is not an http(s) URL")
    return urls
