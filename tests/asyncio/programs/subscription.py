"""
A subscription client in the style of exchange SDKs: it keeps the connection in an attribute,
checks ``ws.open`` before sending, and a watchdog task polls ``ws.state`` against
``websockets.protocol.State`` to notice a dead connection.
"""

import asyncio
import json

import websockets


class Subscription:
    def __init__(self, uri, channel):
        self.uri = uri
        self.channel = channel
        self.ws = None
        self.updates = []
        self.lost_state = None
        self.open_while_running = []

    def is_connected(self):
        return self.ws is not None and self.ws.state == websockets.protocol.State.OPEN

    async def watchdog(self, interval):
        while True:
            await asyncio.sleep(interval)
            try:
                if self.ws.state is not websockets.protocol.State.OPEN:
                    self.lost_state = self.ws.state
                    return
            except Exception:
                continue

    async def send(self, payload):
        if not self.ws.open:
            raise RuntimeError("not connected")
        await self.ws.send(json.dumps(payload))

    async def run(self, count):
        self.ws = await websockets.connect(self.uri, ping_interval=None)
        watchdog = asyncio.ensure_future(self.watchdog(0.005))
        try:
            await self.send({"op": "subscribe", "args": [self.channel]})
            while self.ws.open:
                try:
                    raw = await asyncio.wait_for(self.ws.recv(), timeout=5)
                except asyncio.TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    break
                self.updates.append(json.loads(raw))
                self.open_while_running.append(self.is_connected())
                if len(self.updates) == count:
                    await self.send({"op": "unsubscribe", "args": [self.channel]})
                    break
        finally:
            await self.ws.close()
        await watchdog
        return self.updates
