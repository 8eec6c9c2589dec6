"""Tests of the asyncio client against real peers (see conftest.py for the runner)."""
