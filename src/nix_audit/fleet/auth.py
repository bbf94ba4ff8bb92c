"""Secrets of the fleet service: host tokens, admin passwords and login sessions (issue #7).

Host tokens and session ids are 256 random bits, stored as their sha256: a stolen database
reveals no usable token, and guessing one is out of reach without any stretching. Admin
passwords are chosen by people, so they get scrypt (RFC 7914) with a per-password salt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = [
    "TOKEN_PREFIX",
    "hash_password",
    "hash_token",
    "new_token",
    "verify_password",
]

#: Makes a leaked host token recognisable to secret scanners and to people.
TOKEN_PREFIX = "nixaudit_"  # noqa: S105 (a label, not a secret)

# scrypt cost: N=2**14, r=8, p=1 (the RFC's interactive-login figures), about 50 ms and 16 MiB.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_token() -> str:
    """A fresh host token or session id."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash``, salt and hash in hex."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, bytes.fromhex(digest))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)
