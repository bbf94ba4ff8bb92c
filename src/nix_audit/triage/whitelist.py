"""vulnix whitelists: rules that mark findings as known and accepted, read from TOML or YAML.

Semantics follow vulnix-whitelist(5) and vulnix's ``whitelist.py``:

- a rule is keyed ``pname-version`` (that version only), ``pname`` (every version) or ``*``
  (every package; then a ``cve`` list is required);
- with a ``cve`` list a rule covers only those CVEs of the package; other CVEs are reported;
- ``until`` is an expiry date: "matching derivations are reported only from the specified
  date on", so a rule covers findings while ``today < until``;
- for a package the most specific covering rule applies (``pname-version``, then ``pname``,
  then ``*``);
- no globs: ``["discourse-*"]`` is the pname ``discourse-*``, ``cve = "*"`` the id ``*``, and
  CVE ids compare exactly; vulnix never applies such rules, nor do we, and each carries a note
  for the hygiene report (``WhitelistRule.notes``; see ``_whitelist_parse``).

Merging several files: vulnix merges rules with the same header by uniting their CVE lists,
which can narrow a rule (``["libxslt"]`` for every CVE merged with ``["libxslt"]`` for one CVE
covers only that one) and lets a later ``until`` make a permanent rule expire. We keep every
rule as written instead and let a finding be covered when any rule covers it: the union the
merge means, without the narrowing, and each rule keeps its own origin for reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from nix_audit.errors import NixAuditError, TriageError
from nix_audit.files import write_atomically
from nix_audit.models import Package, TriagedFinding, TriageStatus
from nix_audit.triage._whitelist_parse import RuleFields, parse_toml, parse_yaml, split_section

__all__ = [
    "FetchText",
    "Whitelist",
    "WhitelistRule",
    "load_whitelist",
    "load_whitelists",
    "parse_whitelist",
    "write_whitelist",
]

FetchText = Callable[[str], str]
"""Fetches the text at an http(s) URL (the pipeline passes ``advisories.http.download_text``)."""

_ANY = "*"


@dataclass(frozen=True, slots=True)
class WhitelistRule:
    """One whitelist rule: which packages and CVEs it covers, until when, and why."""

    pattern_name: str  # a pname, or "*" for every package
    version: str | None = None  # None: every version
    cves: frozenset[str] | None = None  # None: every CVE
    until: date | None = None  # covers findings only before this date
    issue_urls: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    origin: str = ""  # "<file or URL>:<line>"
    notes: tuple[str, ...] = ()  # where vulnix's meaning surprises (hygiene warnings)

    @property
    def key(self) -> str:
        """The rule's header as vulnix writes it: ``pname-version``, ``pname`` or ``*``."""
        if self.version is None:
            return self.pattern_name
        return f"{self.pattern_name}-{self.version}"

    @property
    def issue_url(self) -> str | None:
        """The first issue URL, for reports that carry one."""
        return self.issue_urls[0] if self.issue_urls else None

    @property
    def comment(self) -> str:
        """The comments as one line."""
        return "; ".join(self.comments)

    def active(self, today: date) -> bool:
        """False from the ``until`` date on (vulnix: reported "from the specified date on")."""
        return self.until is None or today < self.until

    def covers_cve(self, cve_id: str) -> bool:
        """Does the rule's CVE list (or its absence: every CVE) include ``cve_id``?

        The list is tested exactly as written (vulnix ``Filtered.add``: ``vuln.cve_id in
        rule.cve``), so ``*`` and lower-case ids in it match no NVD id.
        """
        return self.cves is None or cve_id.upper() in self.cves


_IndexKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Whitelist:
    """The rules of one or more whitelist files, in load order."""

    rules: tuple[WhitelistRule, ...] = ()
    _index: dict[_IndexKey, tuple[WhitelistRule, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[_IndexKey, list[WhitelistRule]] = {}
        for rule in self.rules:
            index.setdefault(_index_key(rule), []).append(rule)
        # A cache of the frozen rules, so assigning it does not change the value.
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})

    def __len__(self) -> int:
        return len(self.rules)

    def merged(self, *others: Whitelist) -> Whitelist:
        """These rules followed by the others' (see the module docstring on merging)."""
        return Whitelist(self.rules + tuple(r for other in others for r in other.rules))

    def candidates(self, package: Package) -> Iterator[WhitelistRule]:
        """Rules that name this package, most specific first; expiry and CVEs not checked."""
        names, pnames = _identities(package)
        for name in names:
            yield from self._index.get(("version", name), ())
        for pname in pnames:
            yield from self._index.get(("name", pname), ())
        yield from self._index.get(("name", _ANY), ())

    def match(self, package: Package, cve_id: str, *, today: date) -> WhitelistRule | None:
        """The most specific active rule covering ``cve_id`` in ``package``, or None."""
        for rule in self.candidates(package):
            if rule.active(today) and rule.covers_cve(cve_id):
                return rule
        return None


def _index_key(rule: WhitelistRule) -> _IndexKey:
    """Versioned rules are found by their full ``pname-version`` header, others by pname."""
    if rule.version is None:
        return ("name", rule.pattern_name)
    return ("version", rule.key)


def _identities(package: Package) -> tuple[list[str], list[str]]:
    """The ``name-version`` strings and pnames a package answers to.

    A derivation's ``pname`` attribute may differ from the name vulnix splits off the
    derivation name (``python3.11-requests-2.31.0`` has pname ``requests``), so both count.
    """
    names = [package.name]
    pnames = [package.pname]
    if package.version:
        names.append(f"{package.pname}-{package.version}")
        suffix = f"-{package.version}"
        if package.name.endswith(suffix):
            pnames.append(package.name[: -len(suffix)])
    else:
        pnames.append(package.name)
    return list(dict.fromkeys(n for n in names if n)), list(dict.fromkeys(p for p in pnames if p))


# --- loading -------------------------------------------------------------------------------


def load_whitelist(source: str, *, fetch_text: FetchText | None = None) -> Whitelist:
    """Read one whitelist from a path or a URL (http, https, file; fetched by ``fetch_text``).

    The format follows the extension (``.toml``; ``.yaml``, ``.yml``); without one, TOML is
    tried first, then YAML. Raises ``TriageError`` naming the source and line of a problem.
    """
    return parse_whitelist(_read_source(source, fetch_text), source)


def parse_whitelist(text: str, origin: str) -> Whitelist:
    """A whitelist from its text; ``origin`` (a path, URL or name) picks the format by its
    extension and names the rules' places in errors and hygiene reports."""
    rules = _parse(text, origin, _format_of(origin))
    return Whitelist(tuple(_rule(fields, origin) for fields in rules))


def load_whitelists(sources: Iterable[str], *, fetch_text: FetchText | None = None) -> Whitelist:
    """Read several whitelists (``-w`` given more than once) into one, in order."""
    return Whitelist().merged(*(load_whitelist(s, fetch_text=fetch_text) for s in sources))


def _rule(fields: RuleFields, source: str) -> WhitelistRule:
    return WhitelistRule(
        pattern_name=fields.name,
        version=fields.version,
        cves=fields.cves,
        until=fields.until,
        issue_urls=fields.issue_urls,
        comments=fields.comments,
        origin=f"{source}:{fields.line}",
        notes=fields.notes,
    )


def _is_url(source: str) -> bool:
    # file:// too: vulnix opens -w arguments with urllib, and download_text reads file URLs.
    return source.startswith(("http://", "https://", "file://"))


def _format_of(source: str) -> str | None:
    """``toml``, ``yaml`` or None (unknown) from the extension of the path or URL path."""
    path = urlsplit(source).path if _is_url(source) else source
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return None


def _read_source(source: str, fetch_text: FetchText | None) -> str:
    """The whitelist's text, from the file or through ``fetch_text`` for a URL."""
    if _is_url(source):
        if fetch_text is None:
            raise TriageError(f"{source}: cannot fetch whitelist: no downloader configured")
        try:
            text = fetch_text(source)
        except (NixAuditError, OSError) as e:
            raise TriageError(f"{source}: cannot fetch whitelist: {e}") from e
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise TriageError(f"{source}: not UTF-8 text (byte {e.start})") from e
        except OSError as e:
            raise TriageError(f"{source}: cannot read whitelist: {e.strerror or e}") from e
    return text.removeprefix("\ufeff")


def _parse(text: str, origin: str, fmt: str | None) -> list[RuleFields]:
    if fmt == "toml":
        return parse_toml(text, origin)
    if fmt == "yaml":
        return parse_yaml(text, origin)
    try:
        return parse_toml(text, origin)
    except TriageError as toml_error:
        try:
            return parse_yaml(text, origin)
        except TriageError:
            # Neither: the TOML error is the one to show, TOML being the current format.
            raise toml_error from None


# --- writing (-W/--write-whitelist) --------------------------------------------------------


def write_whitelist(findings: Sequence[TriagedFinding], path: str | os.PathLike[str]) -> None:
    """Write a TOML whitelist covering every finding not already fixed by a patch.

    One ``["name-version"]`` section per package with its CVEs, sorted, so the same scan
    writes the same file; written to a temporary file and renamed, so a reader never sees
    half a file. Loading it back whitelists exactly these findings.
    """
    _write_atomically(Path(path), render_whitelist(findings))


def render_whitelist(findings: Sequence[TriagedFinding]) -> str:
    """The text ``write_whitelist`` writes."""
    sections: dict[str, set[str]] = {}
    for triaged in findings:
        # Patched findings are fixed and a VEX statement already answers not_affected ones.
        if triaged.status not in (TriageStatus.PATCHED, TriageStatus.NOT_AFFECTED):
            key = _section_for(triaged.finding.package)
            sections.setdefault(key, set()).add(triaged.finding.cve_id.upper())
    parts = ["# nix-audit whitelist (vulnix TOML format), written by nix-audit scan -W\n"]
    for key in sorted(sections):
        ids = "".join(f"  {_toml_string(c)},\n" for c in sorted(sections[key], key=_cve_order))
        parts.append(f"\n[{_toml_string(key)}]\ncve = [\n{ids}]\n")
    return "".join(parts)


def _section_for(package: Package) -> str:
    """The header that names this package version, as a loaded rule will match it.

    A header splits into pname and version at its first dash followed by a digit; when the
    package's version does not start that way (``foo-unstable``) no header can name that
    version alone, and the rule covers every version of the pname instead.
    """
    if package.version:
        suffix = f"-{package.version}"
        key = package.name if package.name.endswith(suffix) else package.pname + suffix
        if split_section(key)[1] is not None:
            return key
    return package.pname or package.name


def _cve_order(cve_id: str) -> tuple[int, int, str]:
    """CVE-2014-9999 before CVE-2014-10000."""
    parts = cve_id.split("-")
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (int(parts[1]), int(parts[2]), cve_id)
    return (0, 0, cve_id)


def _toml_string(value: str) -> str:
    """A TOML basic string (TOML 1.0, "String": escape quote, backslash and controls)."""
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _write_atomically(path: Path, text: str) -> None:
    try:
        write_atomically(path, text)
    except OSError as e:
        raise TriageError(f"{path}: cannot write whitelist: {e.strerror or e}") from e
