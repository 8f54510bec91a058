"""Text fit for logs, errors, status and CLI output: credentials masked, errors spelled out.

`describe(exc)` is how every log site and status message renders an exception: its class and
text (redis-py 8's `repr` is only `server:ResponseError`, hiding WRONGTYPE, READONLY, OOM and
the address of a refused connection), with any password of a URL inside it masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PASSWORD_PARAM = re.compile(r"(?i)([?&](?:sentinel_)?password=)[^&#]*")


def masked_url(url: str) -> str:
    """`url` with the password of its user part and any `password=` parameter as `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a bad IPv6 address: mask everything before the `@`
        return re.sub(r"//[^/]*@", f"//{MASK}@", url)
    credentials, at, host = parts.netloc.rpartition("@")
    if at and ":" in credentials:
        user = credentials.split(":", 1)[0]
        url = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
    return _PASSWORD_PARAM.sub(rf"\g<1>{MASK}", url)


def redacted(text: str) -> str:
    """`text` with every URL in it passed through `masked_url`."""
    return _URL.sub(lambda match: masked_url(match.group(0)), text)


def describe(exc: BaseException) -> str:
    """`Class: text` of an exception (just `Class` when it has no text), credentials masked."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {redacted(text)}" if text else name
