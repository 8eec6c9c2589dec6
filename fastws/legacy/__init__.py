"""
The module paths of websockets 10.x's asyncio implementation, ``websockets.legacy``.

Code written for websockets 10.x imports the asyncio client from ``websockets.legacy.client``
and ``websockets.legacy.protocol``, and a few helpers from ``websockets.legacy.framing``,
``.handshake`` and ``.http``. These modules give the same names; each is the object fastws
defines elsewhere (:mod:`fastws.asyncio`, :mod:`fastws.connection`, :mod:`fastws.frames`...),
not a copy. The server-side modules (``legacy.server``, ``legacy.auth``) are left out:
fastws is a client. See "Module paths" in ``docs/api.md``.
"""
