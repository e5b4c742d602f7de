"""The seed-style relay for the fan-out benchmark: every socket joins one Channels group.

``bench/relay.py``'s consumer, joined to the group ``bench.all`` instead of its user's: one
``channel_layer.group_send`` reaches every socket of the process. Served by daphne as
``bench.fanout_relay:application`` with ``bench.relay_settings`` (``BENCH_RELAY_LAYER``
picks the layer).
"""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from bench.relay import RelayConsumer, django_asgi_app

GROUP = "bench.all"


class FanoutRelayConsumer(RelayConsumer):
    async def connect(self) -> None:
        self.group = GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/relay/", FanoutRelayConsumer.as_asgi())]),
    }
)
