"""triage stage: whitelists (vulnix TOML/YAML) and patch evidence applied to findings.

Public modules: ``whitelist`` (``Whitelist``, ``WhitelistRule``, ``load_whitelist(s)``,
``write_whitelist``) and ``apply`` (``triage``, ``unused_rules``).
"""

__all__: list[str] = []
