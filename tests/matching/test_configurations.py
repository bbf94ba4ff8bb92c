"""NVD configuration logic for one package: entries, ranges, AND/OR, platforms, negation."""

from __future__ import annotations

import pytest

from nix_audit.matching.configurations import (
    MatchHit,
    configuration_matches,
    cpe_match_applies,
    range_text,
    record_matches,
    records_matching,
)
from tests.matching.builders import cm, config, node, record

OPENSSL = "cpe:2.3:a:openssl:openssl:*:*:*:*:*:*:*:*"
NAMES = frozenset({"openssl"})


# --- single entries -----------------------------------------------------------------------


def test_exact_version_with_update_field() -> None:
    entry = cm("cpe:2.3:a:openssl:openssl:1.0.1:f:*:*:*:*:*:*")
    assert cpe_match_applies(entry, NAMES, "1.0.1f")
    assert not cpe_match_applies(entry, NAMES, "1.0.1")
    assert not cpe_match_applies(entry, NAMES, "1.0.1g")
    assert range_text(entry) == "= 1.0.1f"


def test_update_field_p1() -> None:
    entry = cm("cpe:2.3:a:openbsd:openssh:2.4:p1:*:*:*:*:*:*")
    assert cpe_match_applies(entry, {"openssh"}, "2.4p1")
    assert not cpe_match_applies(entry, {"openssh"}, "2.4")


def test_exact_version_equal_under_matching_order() -> None:
    entry = cm("cpe:2.3:a:mozilla:firefox:153.0.0:*:*:*:*:*:*:*")
    assert cpe_match_applies(entry, {"firefox"}, "153.0")


@pytest.mark.parametrize(
    ("bounds", "inside", "outside"),
    [
        ({"si": "1.0.1"}, "1.0.1", "1.0.0"),
        ({"se": "1.0.1"}, "1.0.1a", "1.0.1"),
        ({"ei": "1.0.1g"}, "1.0.1g", "1.0.1h"),
        ({"ee": "1.0.1g"}, "1.0.1f", "1.0.1g"),
    ],
)
def test_range_bound_kinds(bounds: dict[str, str], inside: str, outside: str) -> None:
    entry = cm(
        OPENSSL, si=bounds.get("si"), se=bounds.get("se"), ei=bounds.get("ei"), ee=bounds.get("ee")
    )
    assert cpe_match_applies(entry, NAMES, inside)
    assert not cpe_match_applies(entry, NAMES, outside)


def test_range_text() -> None:
    assert range_text(cm(OPENSSL, si="1.0.1", ee="1.0.1g")) == ">= 1.0.1, < 1.0.1g"
    assert range_text(cm(OPENSSL, se="1.0", ei="2.0")) == "> 1.0, <= 2.0"
    assert range_text(cm(OPENSSL)) == "all versions"


def test_other_product_does_not_apply() -> None:
    assert not cpe_match_applies(cm(OPENSSL, ee="9"), {"libressl"}, "1.0")


def test_vendor_is_ignored() -> None:
    entry = cm("cpe:2.3:a:someone_else:openssl:*:*:*:*:*:*:*:*", ee="9")
    assert cpe_match_applies(entry, NAMES, "1.0")


def test_platform_entry_never_applies() -> None:
    assert not cpe_match_applies(cm(OPENSSL, vulnerable=False, ee="9"), NAMES, "1.0")


def test_hardware_part_never_applies() -> None:
    assert not cpe_match_applies(cm("cpe:2.3:h:openssl:openssl:*:*:*:*:*:*:*:*"), NAMES, "1")


def test_any_without_bounds_is_every_version_but_na_is_none() -> None:
    assert cpe_match_applies(cm(OPENSSL), NAMES, "3.0.1")
    assert not cpe_match_applies(cm("cpe:2.3:a:openssl:openssl:-:*:*:*:*:*:*:*"), NAMES, "3")


def test_unorderable_version_only_matches_exactly() -> None:
    assert not cpe_match_applies(cm(OPENSSL, ee="9.0"), NAMES, "unstable-2023-01-01")
    assert not cpe_match_applies(cm(OPENSSL), NAMES, "unstable-2023-01-01")
    exact = cm("cpe:2.3:a:openssl:openssl:unstable-2023-01-01:*:*:*:*:*:*:*")
    assert cpe_match_applies(exact, NAMES, "unstable-2023-01-01")


def test_date_bound_does_not_place_a_release_number() -> None:
    entry = cm("cpe:2.3:a:ffmpeg:ffmpeg:*:*:*:*:*:*:*:*", ee="2021-06-30")
    assert not cpe_match_applies(entry, {"ffmpeg"}, "7.1.3")
    assert cpe_match_applies(entry, {"ffmpeg"}, "2021-05-01")
    assert not cpe_match_applies(entry, {"ffmpeg"}, "2021-07-01")
    assert cpe_match_applies(cm(OPENSSL, ei="20070708"), NAMES, "20070708")


def test_escaped_product_name() -> None:
    entry = cm(r"cpe:2.3:a:nodejs:node\.js:*:*:*:*:*:*:*:*", ee="18.0")
    assert cpe_match_applies(entry, {"node.js"}, "16.1")


def test_malformed_criteria_is_not_a_hit() -> None:
    assert not cpe_match_applies(cm("cpe:/a:openssl:openssl:1.0.1"), NAMES, "1.0.1")


# --- configurations -----------------------------------------------------------------------


def test_or_node_reports_the_entry_that_hit() -> None:
    conf = config(
        node(
            cm(OPENSSL, ee="0.9.8za"),
            cm(OPENSSL, si="1.0.0", ee="1.0.0m"),
            cm(OPENSSL, si="1.0.1", ee="1.0.1h"),
        )
    )
    assert configuration_matches(conf, NAMES, "1.0.1g") == MatchHit(OPENSSL, ">= 1.0.1, < 1.0.1h")
    assert configuration_matches(conf, NAMES, "0.9.8y") == MatchHit(OPENSSL, "< 0.9.8za")
    assert configuration_matches(conf, NAMES, "1.0.1h") is None


JENKINS = "cpe:2.3:a:jenkins:jenkins:*:*:*:*:*:*:*:*"
GIT_PLUGIN = "cpe:2.3:a:jenkins:git:*:*:*:*:*:jenkins:*:*"


def test_and_with_platform_matches_the_vulnerable_product() -> None:
    conf = config(
        node(cm("cpe:2.3:a:zulip:zulip_server:*:*:*:*:*:*:*:*", ee="4.0")),
        node(cm("cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*", vulnerable=False)),
        operator="AND",
    )
    assert configuration_matches(conf, {"zulip_server"}, "3.2") is not None


def test_package_never_matches_as_the_platform() -> None:
    conf = config(
        node(cm("cpe:2.3:a:somevendor:some_plugin:*:*:*:*:*:*:*:*", ee="2.0")),
        node(cm("cpe:2.3:a:git-scm:git:*:*:*:*:*:*:*:*", vulnerable=False)),
        operator="AND",
    )
    assert configuration_matches(conf, {"git"}, "2.40.1") is None
    plugin = config(
        node(cm(GIT_PLUGIN, ee="4.11.2")), node(cm(JENKINS, vulnerable=False)), operator="AND"
    )
    assert configuration_matches(plugin, {"jenkins"}, "2.400") is None


def test_jenkins_git_plugin_matches_git_until_vendor_awareness() -> None:
    """Current behaviour, kept for vulnix parity: vendors are ignored (issue #4 changes it)."""
    plugin = config(
        node(cm(GIT_PLUGIN, ee="4.11.2")), node(cm(JENKINS, vulnerable=False)), operator="AND"
    )
    assert configuration_matches(plugin, {"git"}, "2.40.1") == MatchHit(GIT_PLUGIN, "< 4.11.2")


def test_and_fails_when_another_node_about_the_package_fails() -> None:
    conf = config(
        node(cm(OPENSSL, si="1.0.1")),
        node(cm(OPENSSL, ee="1.0.1g")),
        operator="AND",
    )
    assert configuration_matches(conf, NAMES, "1.0.1f") is not None
    assert configuration_matches(conf, NAMES, "1.0.2") is None


def test_and_node_operator() -> None:
    conf = config(node(cm(OPENSSL, si="1.0.1"), cm(OPENSSL, ee="1.0.1g"), operator="AND"))
    assert configuration_matches(conf, NAMES, "1.0.1a") is not None
    assert configuration_matches(conf, NAMES, "1.0.0") is None


def test_negated_node_excludes_and_never_hits() -> None:
    conf = config(
        node(cm(OPENSSL, ee="2.0")),
        node(cm("cpe:2.3:a:openssl:openssl:1.0.1:f:*:*:*:*:*:*"), negate=True),
        operator="AND",
    )
    assert configuration_matches(conf, NAMES, "1.0.1e") is not None
    assert configuration_matches(conf, NAMES, "1.0.1f") is None
    only_negated = config(node(cm(OPENSSL, ee="2.0"), negate=True))
    assert configuration_matches(only_negated, NAMES, "3.0") is None
    assert configuration_matches(only_negated, NAMES, "1.0") is None


def test_negated_configuration_never_hits() -> None:
    conf = config(node(cm(OPENSSL, ee="2.0")), negate=True)
    assert configuration_matches(conf, NAMES, "1.0") is None


def test_empty_operator_means_or() -> None:
    conf = config(node(cm(OPENSSL, ee="2.0")), node(cm(OPENSSL, si="5.0")), operator="")
    assert configuration_matches(conf, NAMES, "1.0") is not None
    assert configuration_matches(conf, NAMES, "6.0") is not None
    assert configuration_matches(conf, NAMES, "3.0") is None


def test_multiple_configurations_are_alternatives() -> None:
    rec = record(
        "CVE-2000-0001",
        config(node(cm(OPENSSL, ee="1.0"))),
        config(node(cm("cpe:2.3:a:openssl:openssl:2.5:*:*:*:*:*:*:*"))),
    )
    assert record_matches(rec, NAMES, "0.9") == MatchHit(OPENSSL, "< 1.0")
    hit = record_matches(rec, NAMES, "2.5")
    assert hit is not None
    assert hit.version_range == "= 2.5"
    assert record_matches(rec, NAMES, "2.0") is None


def test_records_matching_lists_each_affecting_record() -> None:
    records = [
        record("CVE-2014-0160", config(node(cm(OPENSSL, si="1.0.1", ee="1.0.1g")))),
        record("CVE-2014-0224", config(node(cm(OPENSSL, si="1.0.1", ee="1.0.1h")))),
        record("CVE-2016-0001", config(node(cm(OPENSSL, si="1.0.2")))),
    ]
    assert records_matching(records, NAMES, "1.0.1g") == [
        ("CVE-2014-0224", MatchHit(OPENSSL, ">= 1.0.1, < 1.0.1h"))
    ]
    assert [cve for cve, _ in records_matching(records, NAMES, "1.0.1")] == [
        "CVE-2014-0160",
        "CVE-2014-0224",
    ]
