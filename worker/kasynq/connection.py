"""Redis connections for kasynq: the client types every module accepts."""

from __future__ import annotations

from typing import TypeAlias

import redis.asyncio
import redis.asyncio.cluster

AsyncRedis: TypeAlias = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
"""An asyncio Redis client (standalone, Sentinel-managed or Cluster), `decode_responses=False`."""
