"""What went wrong, in words a pool's or queue's owner can act on.

Errors met while reading a queue's Secret or talking to its Redis become a condition reason
and message: never a traceback, an HTTP dump of the API server's answer, or the Redis URL
(which may carry a password). Errors of the API server about the worker Deployment are
rewritten to name the AsynqWorkerPool fields the user wrote, not the generated ones.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException
from redis import exceptions as redis_errors

from kasynq_operator.resources import SecretRef


class TenantUserError(Exception):
    """A namespace's Redis ACL user cannot be set up; the message names what to fix."""


class InvalidRedisURL(ValueError):
    """The Secret's URL key holds something that is not a Redis URL (the URL is not quoted)."""


@dataclass(frozen=True)
class Problem:
    """A condition reason (CamelCase) and a message for status and a Warning Event."""

    reason: str
    message: str


def redis_problem(
    exc: BaseException, namespace: str, secret: SecretRef, timeout_seconds: float
) -> Problem:
    """Why a queue's Secret or Redis could not be used, naming the Secret, never its values."""
    where = f"Secret {namespace}/{secret.name}"
    if isinstance(exc, TenantUserError):
        return Problem("TenantUserFailed", str(exc))
    if isinstance(exc, ApiException):
        if exc.status == 404:
            return Problem("SecretNotFound", f"{where} not found")
        if exc.status == 403:
            return Problem("SecretForbidden", f"the operator may not read {where}")
        return Problem("SecretUnreadable", f"reading {where} failed: {exc.status} {exc.reason}")
    if isinstance(exc, KeyError):
        return Problem("SecretKeyMissing", str(exc.args[0]) if exc.args else f"{where}: key")
    if isinstance(exc, InvalidRedisURL):
        return Problem("InvalidRedisURL", f"{where} key {secret.url_key!r}: {exc}")
    if isinstance(exc, redis_errors.AuthenticationError):
        return Problem("RedisAuthFailed", f"Redis refused the credentials in {where}")
    if isinstance(exc, redis_errors.NoPermissionError):
        return Problem("RedisNoPermission", f"the Redis user in {where} lacks a permission: {exc}")
    if isinstance(exc, asyncio.TimeoutError | redis_errors.TimeoutError | TimeoutError):
        return Problem(
            "RedisTimeout", f"Redis of {where} did not answer within {timeout_seconds:g} s"
        )
    if isinstance(exc, redis_errors.ConnectionError | OSError):
        detail = str(exc) or type(exc).__name__
        return Problem("RedisUnreachable", f"cannot reach Redis of {where}: {detail}")
    return Problem("RedisError", f"Redis of {where} answered an error: {exc or type(exc).__name__}")


_CONTAINER_ENV = re.compile(r"spec\.template\.spec\.containers\[0\]\.env\[(\d+)\]")


def pool_field_paths(message: str, operator_env: int) -> str:
    """Rewrite field paths of the generated Deployment in an API server message to the
    AsynqWorkerPool fields they came from: the tenant's env follows `operator_env` entries of
    ours, container settings come from spec.template, pod settings from its podTemplate."""

    def env_path(match: re.Match[str]) -> str:
        index = int(match.group(1)) - operator_env
        return f"spec.template.env[{index}]" if index >= 0 else match.group(0)

    message = _CONTAINER_ENV.sub(env_path, message)
    for generated, written in (
        ("spec.template.spec.containers[0].resources", "spec.template.resources"),
        ("spec.template.spec.containers[0].image", "spec.template.image"),
        ("spec.template.spec.", "spec.template.podTemplate.spec."),
        ("spec.template.metadata.", "spec.template.podTemplate.metadata."),
    ):
        message = message.replace(generated, written)
    return message
