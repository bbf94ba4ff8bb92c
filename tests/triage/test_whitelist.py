"""vulnix whitelists: TOML and YAML rules, matching, merging, errors, writing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from nix_audit.errors import FeedError, TriageError
from nix_audit.models import AdvisoryDetails, Finding, Package, TriagedFinding, TriageStatus
from nix_audit.triage.whitelist import (
    Whitelist,
    WhitelistRule,
    load_whitelist,
    load_whitelists,
    write_whitelist,
)

DATA = Path(__file__).parent / "data"
TODAY = date(2026, 6, 1)


def pkg(name: str, pname: str | None = None, version: str | None = None) -> Package:
    """A package named like Nix names it; pname/version split at the last dash by default."""
    if pname is None or version is None:
        pname, _, version = name.rpartition("-")
    return Package(name=name, pname=pname, version=version, derivation=f"/nix/store/x-{name}.drv")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- TOML ----------------------------------------------------------------------------------


def test_toml_rules_are_read_with_their_fields_and_origin() -> None:
    wl = load_whitelist(str(DATA / "rules.toml"))
    by_key = {rule.key: rule for rule in wl.rules}
    assert list(by_key) == ["openssl-1.0.1f", "libxslt", "*", "pcre-8.41", "patch"]
    openssl = by_key["openssl-1.0.1f"]
    assert (openssl.pattern_name, openssl.version) == ("openssl", "1.0.1f")
    assert openssl.cves == frozenset({"CVE-2014-0160"})
    assert openssl.issue_url == "https://tracker.example.org/issues/1"
    assert openssl.origin == f"{DATA / 'rules.toml'}:3"
    assert by_key["libxslt"].version is None and by_key["libxslt"].cves is None
    assert by_key["libxslt"].comment == "upstream will not fix; reviewed 2025-01"
    # Kept as written: vulnix compares ids exactly, so the lower-case one matches nothing.
    assert by_key["*"].cves == frozenset({"CVE-2017-6827", "cve-2017-6834"})
    assert "never matches in vulnix" in by_key["*"].notes[0]
    assert by_key["pcre-8.41"].until == date(2018, 3, 1)
    assert len(by_key["pcre-8.41"].issue_urls) == 2
    assert by_key["patch"].cves == frozenset({"CVE-2018-6952"})  # a lone string is one id
    assert by_key["patch"].until == date(2999, 1, 1)  # a TOML date literal


def test_name_version_rule_covers_that_version_only() -> None:
    wl = load_whitelist(str(DATA / "rules.toml"))
    rule = wl.match(pkg("openssl-1.0.1f"), "CVE-2014-0160", today=TODAY)
    assert rule is not None and rule.key == "openssl-1.0.1f"
    assert wl.match(pkg("openssl-1.0.1g"), "CVE-2014-0160", today=TODAY) is None
    assert wl.match(pkg("openssl-1.0.1f"), "CVE-2014-0224", today=TODAY) is None  # cve subset


def test_pname_rule_covers_every_version_and_every_cve() -> None:
    wl = load_whitelist(str(DATA / "rules.toml"))
    for name in ("libxslt-1.1.29", "libxslt-2.0"):
        rule = wl.match(pkg(name), "CVE-2099-0001", today=TODAY)
        assert rule is not None and rule.key == "libxslt"
    assert wl.match(pkg("libxml2-2.9.3"), "CVE-2099-0001", today=TODAY) is None


def test_star_rule_covers_its_cves_in_every_package() -> None:
    wl = load_whitelist(str(DATA / "rules.toml"))
    rule = wl.match(pkg("audiofile-0.3.6"), "CVE-2017-6827", today=TODAY)
    assert rule is not None and rule.key == "*"
    assert wl.match(pkg("audiofile-0.3.6"), "CVE-2017-6828", today=TODAY) is None
    # written "cve-2017-6834": vulnix (Filtered.add, ``cve_id in rule.cve``) never masks it
    assert wl.match(pkg("audiofile-0.3.6"), "CVE-2017-6834", today=TODAY) is None


def test_most_specific_rule_wins() -> None:
    wl = load_whitelist(str(DATA / "rules.toml"))
    rule = wl.match(pkg("openssl-1.0.1f"), "CVE-2014-0160", today=TODAY)
    assert rule is not None and rule.key == "openssl-1.0.1f"  # not "*" or a pname rule


def test_until_in_the_past_no_longer_matches_and_future_still_does() -> None:
    wl = load_whitelist(str(DATA / "rules.toml"))
    pcre = pkg("pcre-8.41")
    assert wl.match(pcre, "CVE-2017-1000", today=date(2018, 2, 28)) is not None
    # vulnix-whitelist(5): reported again "from the specified date on".
    assert wl.match(pcre, "CVE-2017-1000", today=date(2018, 3, 1)) is None
    assert wl.match(pcre, "CVE-2017-1000", today=TODAY) is None
    assert wl.match(pkg("patch-2.7.6"), "CVE-2018-6952", today=TODAY) is not None


def test_rules_match_the_derivation_name_when_pname_differs(tmp_path: Path) -> None:
    source = write(tmp_path, "w.toml", '["python3.11-requests-2.31.0"]\n["python3.11-idna"]\n')
    wl = load_whitelist(source)
    package = pkg("python3.11-requests-2.31.0", pname="requests", version="2.31.0")
    assert wl.match(package, "CVE-2023-32681", today=TODAY) is not None
    idna = pkg("python3.11-idna-3.4", pname="idna", version="3.4")
    assert wl.match(idna, "CVE-2024-3651", today=TODAY) is not None


# --- YAML ----------------------------------------------------------------------------------


def test_yaml_rules_follow_the_same_semantics() -> None:
    wl = load_whitelist(str(DATA / "rules.yaml"))
    assert [r.key for r in wl.rules] == ["*", "libxslt", "unzip", "audiofile-0.3.6"]
    assert wl.match(pkg("anything-1.0"), "CVE-2015-2504", today=TODAY) is not None
    assert wl.match(pkg("libxslt-1.1.29"), "CVE-2099-0001", today=TODAY) is not None
    assert wl.match(pkg("unzip-6.0"), "CVE-2015-7696", today=TODAY) is not None
    assert wl.match(pkg("unzip-6.0"), "CVE-2014-9636", today=TODAY) is None
    audiofile = wl.match(pkg("audiofile-0.3.6"), "CVE-2017-6828", today=TODAY)
    assert audiofile is not None
    assert audiofile.issue_url == "https://tracker.example.org/issues/9"
    assert audiofile.comment == "some issues not fixed upstream"
    assert audiofile.until == date(2999, 12, 31)
    assert audiofile.origin.endswith("rules.yaml:13")
    assert wl.match(pkg("audiofile-0.3.2"), "CVE-2017-6828", today=TODAY) is None


def test_unknown_extension_tries_toml_then_yaml(tmp_path: Path) -> None:
    toml = write(tmp_path, "wl", '["zlib"]\n')
    yaml = write(tmp_path, "wl.txt", "- name: zlib\n")
    assert [r.key for r in load_whitelist(toml).rules] == ["zlib"]
    assert [r.key for r in load_whitelist(yaml).rules] == ["zlib"]


def test_empty_files_are_empty_whitelists(tmp_path: Path) -> None:
    assert len(load_whitelist(write(tmp_path, "a.toml", ""))) == 0
    assert len(load_whitelist(write(tmp_path, "a.yaml", "# nothing\n"))) == 0


# --- merging -------------------------------------------------------------------------------


def test_two_files_merge_as_the_union_of_their_rules() -> None:
    wl = load_whitelists([str(DATA / "rules.toml"), str(DATA / "more.toml")])
    assert len(wl) == 7
    # libxslt covers every CVE in the first file; the second file's narrower rule for the
    # same header must not narrow it (vulnix's merge would).
    assert wl.match(pkg("libxslt-1.1.29"), "CVE-2099-0001", today=TODAY) is not None
    rule = wl.match(pkg("zlib-1.2.11"), "CVE-2018-25032", today=TODAY)
    assert rule is not None and rule.origin.endswith("more.toml:5")
    assert wl == Whitelist(load_whitelist(str(DATA / "rules.toml")).rules).merged(
        load_whitelist(str(DATA / "more.toml"))
    )


def test_no_sources_is_an_empty_whitelist() -> None:
    wl = load_whitelists([])
    assert len(wl) == 0
    assert wl.match(pkg("zlib-1.2.11"), "CVE-2018-25032", today=TODAY) is None


# --- URLs ----------------------------------------------------------------------------------


def test_url_is_fetched_through_the_callable_and_format_follows_the_url_path() -> None:
    asked: list[str] = []

    def fetch(url: str) -> str:
        asked.append(url)
        return "- name: zlib\n  cve: [CVE-2018-25032]\n"

    url = "https://example.org/wl/site.yaml?rev=3"
    wl = load_whitelist(url, fetch_text=fetch)
    assert asked == [url]
    assert wl.rules[0].origin == f"{url}:1"
    assert wl.match(pkg("zlib-1.2.11"), "CVE-2018-25032", today=TODAY) is not None


def test_file_url_goes_through_the_callable_too(tmp_path: Path) -> None:
    url = f"file://{DATA / 'more.toml'}"
    wl = load_whitelist(url, fetch_text=lambda u: Path(u.removeprefix("file://")).read_text())
    assert [r.key for r in wl.rules] == ["libxslt", "zlib-1.2.11"]
    assert wl.rules[1].origin == f"{url}:5"


def test_url_fetch_failure_is_a_triage_error() -> None:
    def fetch(url: str) -> str:
        raise FeedError(f"{url}: HTTP 404")

    with pytest.raises(TriageError, match=r"^https://example.org/w.toml: cannot fetch .*404"):
        load_whitelist("https://example.org/w.toml", fetch_text=fetch)
    with pytest.raises(TriageError, match="no downloader"):
        load_whitelist("https://example.org/w.toml")


# --- errors --------------------------------------------------------------------------------

ERRORS = [
    ("bad.toml", '["a"]\ncve = [\n', r"bad.toml: line 2: invalid TOML"),
    ("dup.toml", '["a"]\n\n["a"]\n', r"dup.toml: line 3: invalid TOML"),
    ("date.toml", '["a"]\ncomment = "x"\nuntil = "2018-02-30"\n', r"date.toml: line 3: bad date"),
    ("fmt.toml", '["a"]\nuntil = "1 March 2018"\n', r"fmt.toml: line 2: bad date"),
    ("key.toml", '["a"]\n\nuntill = "2018-03-01"\n', r"key.toml: line 3: unknown key 'untill'"),
    ("cve.toml", '["a"]\ncve = ["CVE-14-1"]\n', r"cve.toml: line 2: malformed CVE id"),
    ("type.toml", '["a"]\ncve = 2014\n', r"type.toml: line 2: cve must be a list"),
    ("empty.toml", '["*"]\ncve = []\n', r"empty.toml: line 1: .*needs a 'cve' list"),
    ("star.toml", '# all\n["*"]\ncomment = "x"\n', r"star.toml: line 2: .*needs a 'cve' list"),
    ("quote.toml", "[openssl-1.0.1f]\n", r"quote.toml: line 1: .*must be quoted"),
    ("top.toml", 'cve = ["CVE-2014-0160"]\n', r"top.toml: line 1: 'cve' is not a section"),
    ("url.toml", '["a"]\nissue_url = "tracker/12"\n', r"url.toml: line 2: issue_url"),
    ("glob.toml", '["lib*"]\ncve = ""\n', r"glob.toml: line 2: malformed CVE id ''"),
    ("bad.yaml", "- name: a\n  cve: [CVE-2015-1234\n", r"bad.yaml: line 3: invalid YAML"),
    ("date.yaml", "- name: a\n  until: 2018-02-30\n", r"date.yaml: line 2: bad until"),
    ("key.yaml", "- name: a\n  untill: 2018-03-01\n", r"key.yaml: line 2: unknown key"),
    ("ver.yaml", "- name: a\n  version: 2.10\n", r"ver.yaml: line 2: version 2.1 must be"),
    ("map.yaml", "name: a\n", r"map.yaml: line 1: expected a list of rules"),
    ("dup.yaml", "- name: a\n  name: b\n", r"dup.yaml: line 2: duplicate key 'name'"),
    ("cve.yaml", "- name: a\n  cve: [CVE-2015-12]\n", r"cve.yaml: line 2: malformed CVE id"),
]


@pytest.mark.parametrize(("name", "text", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    source = write(tmp_path, name, text)
    with pytest.raises(TriageError, match=message) as caught:
        load_whitelist(source)
    assert str(caught.value).startswith(f"{tmp_path}/{name}: ")
    assert "\n" not in str(caught.value)


def test_missing_and_undecodable_files_are_triage_errors(tmp_path: Path) -> None:
    with pytest.raises(TriageError, match=r"nope.toml: cannot read whitelist"):
        load_whitelist(str(tmp_path / "nope.toml"))
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'["a"]\ncomment = "\xff"\n')
    with pytest.raises(TriageError, match=r"bin.toml: not UTF-8 text \(byte 17\)"):
        load_whitelist(str(binary))


# --- writing -------------------------------------------------------------------------------


def triaged(package: Package, cve: str, status: TriageStatus) -> TriagedFinding:
    finding = Finding(package=package, cve_id=cve, criteria="cpe:2.3:a:x:y:*", version_range="")
    return TriagedFinding(finding=finding, status=status, details=AdvisoryDetails(cve_id=cve))


def test_written_whitelist_covers_exactly_the_findings(tmp_path: Path) -> None:
    odd = Package(name="font-3270-1.0", pname="font-3270", version="1.0")
    unstable = pkg("foo-unstable", pname="foo", version="unstable")
    findings = [
        triaged(pkg("openssl-1.0.1f"), "CVE-2014-0160", TriageStatus.AFFECTED),
        triaged(pkg("openssl-1.0.1f"), "CVE-2014-0224", TriageStatus.WHITELISTED),
        triaged(pkg("openssl-1.0.1f"), "CVE-2016-2105", TriageStatus.PATCHED),
        triaged(pkg("zlib-1.2.11"), "CVE-2018-25032", TriageStatus.AFFECTED),
        triaged(odd, "CVE-2020-10000", TriageStatus.AFFECTED),
        triaged(odd, "CVE-2020-9999", TriageStatus.AFFECTED),
        triaged(unstable, "CVE-2021-0001", TriageStatus.AFFECTED),
    ]
    target = tmp_path / "out.toml"
    write_whitelist(findings, target)
    wl = load_whitelist(str(target))
    for item in findings:
        rule = wl.match(item.finding.package, item.finding.cve_id, today=TODAY)
        assert (rule is None) == (item.status is TriageStatus.PATCHED), item
    assert wl.match(pkg("openssl-1.0.1g"), "CVE-2014-0160", today=TODAY) is None
    assert wl.match(pkg("zlib-1.2.11"), "CVE-2018-25033", today=TODAY) is None
    assert wl.match(odd, "CVE-2020-10001", today=TODAY) is None
    text = target.read_text()
    assert text.index("CVE-2020-9999") < text.index("CVE-2020-10000")  # numeric order
    assert text.index('["font-3270-1.0"]') < text.index('["openssl-1.0.1f"]')
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["out.toml"]  # no temporary left behind


def test_writing_is_deterministic_and_replaces_the_file(tmp_path: Path) -> None:
    findings = [
        triaged(pkg("zlib-1.2.11"), "CVE-2018-25032", TriageStatus.AFFECTED),
        triaged(pkg("bzip2-1.0.6"), "CVE-2016-3189", TriageStatus.AFFECTED),
    ]
    target = tmp_path / "w.toml"
    target.write_text("old content\n")
    write_whitelist(findings, target)
    first = target.read_text()
    write_whitelist(list(reversed(findings)), target)
    assert target.read_text() == first
    assert first.index("bzip2") < first.index("zlib")


def test_unwritable_target_is_a_triage_error(tmp_path: Path) -> None:
    with pytest.raises(TriageError, match=r"missing/w.toml: cannot write whitelist"):
        write_whitelist([], tmp_path / "missing" / "w.toml")


def test_rule_values_are_comparable_and_hashable() -> None:
    rule = WhitelistRule("zlib", "1.2.11", frozenset({"CVE-2018-25032"}), origin="a:1")
    assert rule == WhitelistRule("zlib", "1.2.11", frozenset({"CVE-2018-25032"}), origin="a:1")
    assert len({rule, rule}) == 1
    assert rule.key == "zlib-1.2.11" and rule.issue_url is None and rule.comment == ""


# --- shapes vulnix loads with a surprising meaning (issue #13) -----------------------------

ROUNDUP = """\
# NixOS vulnerability roundup style
["discourse-*"]
comment = "tracked in the roundup"

["nginx"]
cve = "*"

["*-1.0"]
cve = ["CVE-2014-0160"]

["zlib"]
cve = []

["libtiff"]
cve = ["*", "CVE-2016-9840"]

[""]
cve = "CVE-2016-5419"

["hello-2.10.drv"]
until = "2999-3-1"

[curl]
"""


def test_roundup_shapes_load_with_vulnix_meaning(tmp_path: Path) -> None:
    wl = load_whitelist(write(tmp_path, "roundup.toml", ROUNDUP))
    by_key = {rule.key: rule for rule in wl.rules}
    assert list(by_key) == [
        "discourse-*", "nginx", "*-1.0", "zlib", "libtiff", "*", "hello-2.10", "curl",
    ]  # fmt: skip
    # split_name: no dash-digit, so the whole header is the pname; no glob anywhere.
    assert by_key["discourse-*"].pattern_name == "discourse-*"
    assert wl.match(pkg("discourse-3.1.0"), "CVE-2021-41082", today=TODAY) is None
    assert '["discourse"]' in by_key["discourse-*"].notes[0]
    # cve = "*" is the literal id "*": it hides nothing.
    assert by_key["nginx"].cves == frozenset({"*"})
    assert wl.match(pkg("nginx-1.24.0"), "CVE-2023-44487", today=TODAY) is None
    assert "no wildcard" in by_key["nginx"].notes[0]
    # pname "*" at version 1.0: never looked up.
    assert wl.match(pkg("foo-1.0"), "CVE-2014-0160", today=TODAY) is None
    assert by_key["*-1.0"].notes
    # an empty list means every CVE, as no cve key.
    assert by_key["zlib"].cves is None and by_key["zlib"].notes
    assert wl.match(pkg("zlib-1.2.8"), "CVE-2016-9840", today=TODAY) == by_key["zlib"]
    # "*" beside real ids: the real ones still match.
    assert wl.match(pkg("libtiff-4.0"), "CVE-2016-9840", today=TODAY) == by_key["libtiff"]
    assert wl.match(pkg("libtiff-4.0"), "CVE-2016-1", today=TODAY) is None
    # [""] is every package (vulnix: ``pname or '*'``); ".drv" is dropped; 2999-3-1 parses.
    assert wl.match(pkg("curl-7.50.0"), "CVE-2016-5419", today=TODAY) is not None
    assert by_key["hello-2.10"].until == date(2999, 3, 1)
    assert by_key["curl"].version is None and not by_key["curl"].notes  # bare header


def test_yaml_star_or_empty_version_means_every_version(tmp_path: Path) -> None:
    text = '- name: a\n  version: "*"\n- name: b\n  version: ""\n- name: c*\n'
    wl = load_whitelist(write(tmp_path, "v.yaml", text))
    assert [(r.key, r.version) for r in wl.rules] == [("a", None), ("b", None), ("c*", None)]
    assert wl.rules[2].notes and wl.match(pkg("c-1"), "CVE-2014-0160", today=TODAY) is None
