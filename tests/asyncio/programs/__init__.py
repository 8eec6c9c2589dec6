"""
Client programs written the way users write them for websockets 10.x: each module does
``import websockets`` and nothing else of fastws. ``tests/asyncio/test_programs.py`` runs them
unchanged with fastws installed as ``websockets`` in ``sys.modules``.
"""
