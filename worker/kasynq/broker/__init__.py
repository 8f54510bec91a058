"""All Redis access of kasynq: atomic Lua operations (wire-protocol.md §4) behind `Broker`."""

from kasynq.broker.core import Broker

__all__ = ["Broker"]
