"""A derivation's attributes: its environment, or its structured attributes.

With ``__structuredAttrs = true`` Nix passes the attributes as one JSON object in the
environment variable ``__json`` (Nix manual, "Advanced Attributes": ``__structuredAttrs``),
so lists such as ``patches`` stay lists instead of space-joined strings. The environment then
holds only ``__json`` and the output paths.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from nix_audit.derivation.aterm import Derivation
from nix_audit.errors import DerivationError

__all__ = ["derivation_attrs"]

_JSON_ENV = "__json"


def derivation_attrs(drv: Derivation) -> Mapping[str, object]:
    """The attributes of ``drv``: its environment, or the decoded ``__json`` object.

    For structured attributes the result is the JSON object (values may be strings, lists,
    numbers, booleans, null or objects), plus any other environment variable (the output
    paths ``out``, ``dev``...) that the object does not already define.
    """
    env = drv.env_dict
    encoded = env.pop(_JSON_ENV, None)
    if encoded is None:
        return env
    try:
        attrs = msgspec.json.decode(encoded)
    except msgspec.DecodeError as e:
        raise DerivationError(f"{drv.path}: bad {_JSON_ENV} structured attributes: {e}") from e
    if not isinstance(attrs, dict):
        kind = type(attrs).__name__
        raise DerivationError(
            f"{drv.path}: bad {_JSON_ENV} structured attributes: {kind}, not an object"
        )
    for key, value in env.items():
        attrs.setdefault(key, value)
    return attrs
