"""Per-tenant Redis ACL users: one user per namespace, reaching only that namespace's keys.

Queue names are `<namespace>:<queue>` (resources.redis_queue_name) and scheduler groups
`<namespace>/<pool>`, so the user's key patterns are the namespace's prefixes
(`keys.tenant_key_patterns`) plus the shared index keys asynq needs in every process, write
access (no read) to per-process keys, and the cancel channel. Commands that list key names
or touch the server (KEYS, SCAN, INFO, CONFIG, FLUSHALL, ...) are not granted.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlsplit, urlunsplit

from kasynq import keys
from kasynq.broker import acl
from kasynq.connection import AsyncRedis

USER_PREFIX = "kasynq-tenant-"
COMMANDS = ("+@all", "-@dangerous", "-@admin", "-scan", "-randomkey", "-pubsub")


def tenant_user(namespace: str) -> str:
    return f"{USER_PREFIX}{namespace}"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def tenant_rules(namespace: str, password: str) -> list[str]:
    """ACL SETUSER rules of `namespace`'s user: replaces any earlier rules and passwords."""
    own = keys.tenant_key_patterns(f"{namespace}:", f"{namespace}/")
    return [
        "reset",
        "on",
        f">{password}",
        *(f"~{pattern}" for pattern in own),
        *(f"~{key}" for key in keys.SHARED_INDEX_KEYS),
        *(f"%W~{pattern}" for pattern in keys.PROCESS_KEY_PATTERNS),
        f"&{keys.CANCEL_CHANNEL}",
        *COMMANDS,
    ]


async def ensure_tenant_user(admin: AsyncRedis, namespace: str, password: str) -> str:
    """Create or replace `namespace`'s user with `password` (the only one); its name."""
    user = tenant_user(namespace)
    await acl.set_user(admin, user, tenant_rules(namespace, password))
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
