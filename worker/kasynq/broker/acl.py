"""Redis ACL users (Redis 6+): create, replace and delete one user with the admin's client.

The operator uses these to give each tenant namespace a user whose key patterns cover only
its own queues (`kasynq_operator.redis_acl`); rules are Redis ACL SETUSER rule strings.
"""

from __future__ import annotations

from collections.abc import Sequence

from kasynq.connection import AsyncRedis


async def set_user(client: AsyncRedis, user: str, rules: Sequence[str]) -> None:
    """ACL SETUSER `user` with `rules` (start them with "reset" to replace, not add)."""
    await client.execute_command("ACL", "SETUSER", user, *rules)


async def delete_user(client: AsyncRedis, user: str) -> bool:
    """ACL DELUSER; True when the user existed. Its open connections are closed by Redis."""
    return bool(await client.execute_command("ACL", "DELUSER", user))


async def user_exists(client: AsyncRedis, user: str) -> bool:
    return user in {
        name.decode() if isinstance(name, bytes) else name
        for name in await client.execute_command("ACL", "USERS")
    }
