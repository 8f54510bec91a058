"""Per-tenant Redis ACL users: one user per namespace, reaching only that namespace's keys.

Queue names are `<namespace>:<queue>` (resources.redis_queue_name) and scheduler groups
`<namespace>/<pool>`, so the user's key patterns are the namespace's prefixes
(`keys.tenant_key_patterns`) plus the shared index keys asynq needs in every process, write
access (no read) to per-process keys, and the cancel channel. Commands that list key names
or touch the server (KEYS, SCAN, INFO, CONFIG, FLUSHALL, ...) are not granted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from kasynq import keys
from kasynq.broker import acl
from kasynq.connection import AsyncRedis

from kasynq_operator.kube import KubeApi
from kasynq_operator.problems import TenantUserError
from kasynq_operator.redis_clients import RedisClients
from kasynq_operator.resources import MANAGED_BY, SecretRef

logger = logging.getLogger(__name__)

USER_PREFIX = "kasynq-tenant-"
COMMANDS = ("+@all", "-@dangerous", "-@admin", "-scan", "-randomkey", "-pubsub")


def tenant_user(namespace: str) -> str:
    return f"{USER_PREFIX}{namespace}"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def tenant_rules(namespace: str, *passwords: str) -> list[str]:
    """ACL SETUSER rules of `namespace`'s user: replaces any earlier rules and passwords
    (two passwords while a rotation lets pods with the old one roll over)."""
    own = keys.tenant_key_patterns(f"{namespace}:", f"{namespace}/")
    return [
        "reset",
        "on",
        *(f">{password}" for password in passwords),
        *(f"~{pattern}" for pattern in own),
        *(f"~{key}" for key in keys.SHARED_INDEX_KEYS),
        *(f"%W~{pattern}" for pattern in keys.PROCESS_KEY_PATTERNS),
        f"&{keys.CANCEL_CHANNEL}",
        *COMMANDS,
    ]


async def ensure_tenant_user(admin: AsyncRedis, namespace: str, *passwords: str) -> str:
    """Create or replace `namespace`'s user with `passwords` (the only ones); its name."""
    user = tenant_user(namespace)
    await acl.set_user(admin, user, tenant_rules(namespace, *passwords))
    return user


async def remove_tenant_user(admin: AsyncRedis, namespace: str) -> bool:
    return await acl.delete_user(admin, tenant_user(namespace))


def tenant_url(url: str, user: str, password: str) -> str:
    """`url` (redis:// or rediss://) with the tenant's user and password as its credentials,
    the admin's replaced. Go asynq's ParseRedisURI ignores the user name: Go workers must set
    RedisClientOpt.Username from it (tests/interop/cmd/goasynq does)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


ADMIN_SECRET_ENV = "KASYNQ_REDIS_ADMIN_SECRET"
"""`<namespace>/<name>` of the Secret with the admin's Redis URL (key `url`, optional
`password`): the Redis where tenant users are made, by a user allowed ACL SETUSER."""
TENANT_USERS_ENV = "KASYNQ_REDIS_TENANT_USERS"
"""`all`: every AsynqQueue gets a tenant user, whatever its spec.redis.tenantUser."""
MAX_AGE_ENV = "KASYNQ_REDIS_TENANT_PASSWORD_MAX_AGE_SECONDS"
"""Rotate a tenant's password when it is older than this (0 or unset: never)."""
OVERLAP_ENV = "KASYNQ_REDIS_TENANT_PASSWORD_OVERLAP_SECONDS"
"""How long the previous password keeps working after a rotation, while pods roll."""
DEFAULT_OVERLAP_SECONDS = 600.0
MANAGED_LABEL = "kasynq.io/tenant-user"
SET_AT_ANNOTATION = "kasynq.io/password-set-at"
PASSWORD_KEY = "password"
PREVIOUS_PASSWORD_KEY = "previous-password"


@dataclass(frozen=True)
class AdminSecret:
    namespace: str
    ref: SecretRef

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AdminSecret | None:
        value = environ.get(ADMIN_SECRET_ENV, "")
        if not value:
            return None
        namespace, slash, name = value.partition("/")
        if not slash or not namespace or not name:
            raise ValueError(f"{ADMIN_SECRET_ENV} must be <namespace>/<name>, got {value!r}")
        return cls(namespace, SecretRef(name, password_key=None))


class TenantUsers:
    """Keeps each opted-in namespace's Redis user and the Secret its workers read in step."""

    def __init__(
        self,
        kube: KubeApi,
        redis_clients: RedisClients,
        admin: AdminSecret | None,
        everywhere: bool,
        max_age_seconds: float = 0.0,
        overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kube = kube
        self._redis_clients = redis_clients
        self._admin = admin
        self._everywhere = everywhere
        self._max_age = max_age_seconds
        self._overlap = overlap_seconds
        self._clock = clock
        self._ensured: dict[tuple[str, str], _Credentials] = {}

    @classmethod
    def from_env(
        cls, kube: KubeApi, redis_clients: RedisClients, environ: Mapping[str, str]
    ) -> TenantUsers:
        return cls(
            kube,
            redis_clients,
            AdminSecret.from_env(environ),
            environ.get(TENANT_USERS_ENV) == "all",
            float(environ.get(MAX_AGE_ENV) or 0),
            float(environ.get(OVERLAP_ENV) or DEFAULT_OVERLAP_SECONDS),
        )

    def wanted(self, redis_spec: Mapping[str, Any]) -> bool:
        return self._everywhere or bool(redis_spec.get("tenantUser", False))

    async def ensure(self, namespace: str, secret: SecretRef) -> None:
        """The namespace's user exists with the password in its Secret (made if missing)."""
        if self._admin is None:
            raise TenantUserError(
                f"spec.redis.tenantUser needs the operator's admin Secret ({ADMIN_SECRET_ENV})"
            )
        where = f"Secret {namespace}/{secret.name}"
        existing = await asyncio.to_thread(self._kube.read_secret_object, namespace, secret.name)
        if existing is not None and existing["labels"].get(MANAGED_LABEL) != "true":
            raise TenantUserError(
                f"{where} exists and is not managed by kasynq: with spec.redis.tenantUser the"
                " operator writes it; name a Secret that does not exist yet"
            )
        fresh = _Credentials(new_password(), "", self._now())
        current = _Credentials.from_secret(existing) or fresh
        wanted, rotated = self._next(current)
        if self._ensured.get((namespace, secret.name)) == wanted and wanted == current:
            return
        admin_data = await asyncio.to_thread(
            self._kube.read_secret, self._admin.namespace, self._admin.ref.name
        )
        admin = await self._redis_clients.get(self._admin.namespace, self._admin.ref)
        user = await ensure_tenant_user(admin, namespace, *wanted.passwords)
        url = tenant_url(admin_data[self._admin.ref.url_key].decode(), user, wanted.password)
        metadata = {
            "labels": {MANAGED_LABEL: "true", "app.kubernetes.io/managed-by": MANAGED_BY},
            "annotations": {SET_AT_ANNOTATION: f"{wanted.set_at:.0f}"},
        }
        data = {secret.url_key: url, PASSWORD_KEY: wanted.password}
        if wanted.previous:
            data[PREVIOUS_PASSWORD_KEY] = wanted.previous
        await asyncio.to_thread(self._kube.apply_secret, namespace, secret.name, metadata, data)
        self._ensured[(namespace, secret.name)] = wanted
        if rotated:
            rolled = await asyncio.to_thread(
                self._kube.restart_workers_using, namespace, secret.name, f"{wanted.set_at:.0f}"
            )
            logger.info(
                "tenant redis password rotated namespace=%s user=%s rolled=%s",
                namespace,
                user,
                ",".join(rolled),
            )
        logger.info(
            "tenant redis user ready namespace=%s user=%s secret=%s", namespace, user, secret.name
        )

    def _now(self) -> float:
        """Whole seconds, as the Secret's annotation keeps them."""
        return float(int(self._clock()))

    def _next(self, current: _Credentials) -> tuple[_Credentials, bool]:
        """The credentials to have now: rotated when too old, the previous password dropped
        once the overlap is over; and whether this is a rotation."""
        age = self._clock() - current.set_at
        if self._max_age > 0 and age >= self._max_age:
            return _Credentials(new_password(), current.password, self._now()), True
        if current.previous and age >= self._overlap:
            return _Credentials(current.password, "", current.set_at), False
        return current, False

    async def remove(self, namespace: str, secret_names: Iterable[str]) -> None:
        """The namespace's last tenant-user queue is gone: delete its user and Secrets."""
        if self._admin is None:
            return
        admin = await self._redis_clients.get(self._admin.namespace, self._admin.ref)
        await remove_tenant_user(admin, namespace)
        for name in secret_names:
            await asyncio.to_thread(self._kube.delete_secret, namespace, name)
            self._ensured.pop((namespace, name), None)
        logger.info("tenant redis user removed namespace=%s", namespace)


@dataclass(frozen=True)
class _Credentials:
    """A tenant's password, the previous one while a rotation overlaps, and when it was set."""

    password: str
    previous: str
    set_at: float

    @property
    def passwords(self) -> tuple[str, ...]:
        return (self.password, self.previous) if self.previous else (self.password,)

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any] | None) -> _Credentials | None:
        if secret is None or PASSWORD_KEY not in secret["data"]:
            return None
        data = secret["data"]
        set_at = float(secret["annotations"].get(SET_AT_ANNOTATION) or 0)
        return cls(
            data[PASSWORD_KEY].decode(), data.get(PREVIOUS_PASSWORD_KEY, b"").decode(), set_at
        )
