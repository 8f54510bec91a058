"""All Redis access of kasynq: atomic Lua operations (spec section 3) behind `Broker`."""

from kasynq.broker.core import Broker

__all__ = ["Broker"]
