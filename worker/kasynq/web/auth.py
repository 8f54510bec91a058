"""Who may use the console: a bearer token, basic auth or a trusted proxy header; CSRF tokens.

Every request except the probes, the login form and the static assets must name a principal.
A change (any POST) must also carry the CSRF token of that principal, an HMAC that a page of
the console embeds in its forms and that another site can neither read nor compute.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ANONYMOUS = "anonymous"
SESSION_COOKIE = "kasynq_session"


class AuthSettingError(ValueError):
    """An auth file that cannot be used; the message names the option and path, never a secret."""


def read_token_file(path: Path) -> str:
    """The token in `path` (surrounding whitespace stripped); it must not be empty."""
    token = _read(path, "--auth-token-file").strip()
    if not token:
        raise AuthSettingError(f"--auth-token-file {path}: the file holds no token")
    return token


def read_basic_auth_file(path: Path) -> dict[str, str]:
    """`user:password` lines of `path` (blank lines and `#` comments skipped)."""
    users: dict[str, str] = {}
    for number, line in enumerate(_read(path, "--basic-auth-file").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise AuthSettingError(
                f"--basic-auth-file {path}: line {number} is not `user:password`"
            )
        users[user] = password
    if not users:
        raise AuthSettingError(f"--basic-auth-file {path}: the file holds no user")
    return users


def _read(path: Path, option: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthSettingError(
            f"{option} {path}: cannot read it: {exc.__class__.__name__}"
        ) from None


@dataclass(frozen=True)
class Auth:
    """The configured ways in; with none of them every request is `ANONYMOUS`.

    The signing key of cookies and CSRF tokens comes from the secrets when there are any, so
    replicas behind one Service accept each other's; otherwise it is random per process.
    """

    token: str | None = None
    basic_users: dict[str, str] = field(default_factory=dict)
    trusted_header: str | None = None
    key: bytes = field(default=b"", repr=False)

    @classmethod
    def build(
        cls,
        token: str | None = None,
        basic_users: dict[str, str] | None = None,
        trusted_header: str | None = None,
    ) -> Auth:
        users = basic_users or {}
        material = "\n".join([token or "", *sorted(f"{u}:{p}" for u, p in users.items())])
        key = (
            hashlib.sha256(b"kasynq-web\n" + material.encode()).digest()
            if token or users
            else secrets.token_bytes(32)
        )
        return cls(token, users, trusted_header, key)

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.basic_users or self.trusted_header)

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def session_cookie(self) -> str:
        """The cookie value the login form sets once the token was given."""
        return self._sign("session")

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_token(self, principal: str) -> str:
        return self._sign(f"csrf:{principal}")

    def csrf_ok(self, principal: str, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.csrf_token(principal).encode())

    def principal(self, headers: dict[str, str], cookies: dict[str, str]) -> str | None:
        """Who sent a request with these headers and cookies, or None when nobody known did."""
        if not self.enabled:
            return ANONYMOUS
        if self.trusted_header:
            user = headers.get(self.trusted_header.lower(), "").strip()
            if user:
                return user
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if self.token is not None:
            if scheme.lower() == "bearer" and self.token_matches(credentials.strip()):
                return "token"
            cookie = cookies.get(SESSION_COOKIE, "")
            if cookie and hmac.compare_digest(cookie.encode(), self.session_cookie().encode()):
                return "token"
        if self.basic_users and scheme.lower() == "basic":
            return self._basic_user(credentials.strip())
        return None

    def _basic_user(self, credentials: str) -> str | None:
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.basic_users.get(user)
        if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
            return None
        return user
