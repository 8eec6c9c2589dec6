"""
A feed consumer that survives disconnections: ``async for websocket in websockets.connect(...)``
reconnects, the handler subscribes again on each connection and keeps going until it has
enough updates.
"""

import json
import logging

import websockets

log = logging.getLogger(__name__)


async def collect(uri, channel, wanted):
    """Collect ``wanted`` updates of ``channel``; return them and the connections used."""
    updates = []
    connections = 0
    async for websocket in websockets.connect(uri, ping_interval=None, close_timeout=1):
        connections += 1
        try:
            await websocket.send(json.dumps({"op": "subscribe", "channel": channel}))
            async for raw in websocket:
                update = json.loads(raw)
                if update.get("channel") != channel:
                    continue
                updates.append(update["seq"])
                if len(updates) == wanted:
                    return updates, connections
        except websockets.exceptions.ConnectionClosedError as exc:
            log.info("connection lost (%s), reconnecting", exc.code)
            continue
        # A clean close (1000/1001) ends the inner loop: reconnect as well.
        log.info("server closed the connection, reconnecting")
    return updates, connections  # not reached: connect() iterates forever
