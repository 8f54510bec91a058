"""Kubernetes Events about our custom resources, posted in the background.

`kopf.event` works only inside kopf's own handler tasks (it needs the per-object context
kopf sets there); the poller's steps run outside them, so they post through `KubeApi`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kasynq.redaction import describe

from kasynq_operator.kube import KubeApi

logger = logging.getLogger(__name__)

EventPoster = Callable[[str, str], None]
"""Posts a Kubernetes Event about one object: (reason, message)."""


class Events:
    """Posts Events without holding up the step that reports them; a failed post is logged
    (an Event is a notice, the status carries the state)."""

    def __init__(self, kube: KubeApi) -> None:
        self._kube = kube
        self._posting: set[asyncio.Task[None]] = set()

    def poster(self, body: Mapping[str, Any], type_: str) -> EventPoster:
        """Events of `type_` ("Normal" or "Warning") about the object `body`."""
        metadata = body["metadata"]
        involved = {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
        }

        def post(reason: str, message: str) -> None:
            task = asyncio.create_task(self._post(involved, type_, reason, message))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)

        return post

    async def _post(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        try:
            await asyncio.to_thread(self._kube.post_event, involved, type_, reason, message)
        except Exception as exc:
            logger.warning(
                "posting an event failed kind=%s namespace=%s name=%s reason=%s error=%s",
                involved["kind"],
                involved["namespace"],
                involved["name"],
                reason,
                describe(exc),
            )

    async def close(self) -> None:
        """Wait for the Events still being posted."""
        await asyncio.gather(*self._posting, return_exceptions=True)
