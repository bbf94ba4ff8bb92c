"""Matching stage: packages in, findings out, reading the advisory index.

``versions`` (Nix and NVD version order), ``cpe`` (CPE 2.3 names), ``configurations``
(NVD configuration logic), ``candidates`` (CPE products for a Nix name) and
``name_matcher`` (``NameMatcher``, the vulnix-parity ``Matcher``).
"""

__all__: list[str] = []
