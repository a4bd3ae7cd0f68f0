"""Fan-out across processes and machines through a broker (Redis or NATS).

Layer: below the 4D API (``duplex.server``), which attaches its WebSocket servers to a
:class:`ClusterNode`; above nothing of duplex's own but the standard library and the brokers'
client libraries, which are optional (``pip install 'duplex[redis]'`` or ``'duplex[nats]'``) and
imported only when a broker URL names them.
"""

from .broker import BROKER_VARIABLE, BrokerError, BrokerStats, check_broker_url, configured_broker
from .node import ClusterNode, LocalServer

__all__ = [
    "BROKER_VARIABLE",
    "BrokerError",
    "BrokerStats",
    "ClusterNode",
    "LocalServer",
    "check_broker_url",
    "configured_broker",
]
