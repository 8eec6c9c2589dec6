"""Tests for fastws.mask: masking (RFC 6455 section 5.3) and masking keys."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws import mask
from fastws.mask import (
    _FRAME_INT_MAX,
    _TRANSLATE_MIN,
    _mask_int,
    _mask_translate,
    apply_mask,
    masked_frame,
    random_mask_key,
)
from fastws.typing import BytesLike

# RFC 6455 section 5.7: 'A single-frame masked text message containing "Hello"'.
HELLO = b"Hello"
HELLO_KEY = b"\x37\xfa\x21\x3d"
HELLO_MASKED = b"\x7f\x9f\x4d\x51\x58"

KEY = b"\x01\x80\xfe\xff"
VARIANTS: list[Callable[[BytesLike, bytes], bytes]] = [apply_mask, _mask_int, _mask_translate]
# Every size up to 20, sizes around the crossover, and sizes past the repunit cache.
SIZES = sorted(
    {
        *range(21),
        *range(_TRANSLATE_MIN - 5, _TRANSLATE_MIN + 6),
        4 * max(mask._REPUNITS) + 7,
        65537,
    }
)


def naive_mask(data: BytesLike, key: bytes) -> bytes:
    """Mask byte by byte, as the RFC describes it."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(bytes(data)))


def payload(size: int) -> bytes:
    """Return ``size`` bytes covering every byte value."""
    return bytes((i * 7 + 3) % 256 for i in range(size))


def buffers(data: bytes) -> Iterator[BytesLike]:
    """Yield ``data`` as bytes, bytearray, memoryview and a memoryview slice at an offset."""
    yield data
    yield bytearray(data)
    yield memoryview(data)
    yield memoryview(b"xyz" + data + b"!")[3 : 3 + len(data)]


@pytest.fixture
def fresh_pool() -> Iterator[None]:
    """Start and end with an empty key pool, so tests don't leak keys into each other."""
    mask._drop_pool()
    yield
    mask._drop_pool()


class TestApplyMask:
    """apply_mask and its two tricks."""

    @pytest.mark.parametrize("func", VARIANTS)
    def test_rfc_example(self, func: Callable[[BytesLike, bytes], bytes]) -> None:
        """Masking "Hello" with 37 fa 21 3d gives RFC 6455 section 5.7's bytes."""
        assert func(HELLO, HELLO_KEY) == HELLO_MASKED
        assert func(HELLO_MASKED, HELLO_KEY) == HELLO

    @pytest.mark.parametrize("func", VARIANTS)
    def test_empty(self, func: Callable[[BytesLike, bytes], bytes]) -> None:
        """An empty payload masks to b""."""
        for data in buffers(b""):
            assert func(data, KEY) == b""

    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("func", VARIANTS)
    def test_sizes(self, func: Callable[[BytesLike, bytes], bytes], size: int) -> None:
        """Each variant matches the naive reference at small, crossover and large sizes."""
        data = payload(size)
        expected = naive_mask(data, KEY)
        for buf in buffers(data):
            result = func(buf, KEY)
            assert type(result) is bytes
            assert result == expected

    @pytest.mark.parametrize("size", [3, 100, _TRANSLATE_MIN + 1])
    def test_input_not_modified(self, size: int) -> None:
        """apply_mask returns a new object and leaves a bytearray input alone."""
        data = bytearray(payload(size))
        apply_mask(data, KEY)
        assert data == payload(size)

    @pytest.mark.parametrize("size", [8, _TRANSLATE_MIN + 4])
    def test_memoryview_of_wide_items(self, size: int) -> None:
        """A memoryview with 4-byte items is masked byte by byte, not item by item."""
        data = payload(size)
        view = memoryview(data).cast("I")
        assert len(view) == size // 4
        assert apply_mask(view, KEY) == naive_mask(data, KEY)

    def test_non_contiguous_memoryview(self) -> None:
        """A strided memoryview is refused rather than masked wrongly."""
        with pytest.raises(TypeError):
            apply_mask(memoryview(payload(16))[::2], KEY)

    @pytest.mark.parametrize("key", [b"", b"\x00\x01\x02", b"\x00\x01\x02\x03\x04"])
    def test_bad_key_length(self, key: bytes) -> None:
        """A key that isn't 4 bytes long raises ValueError."""
        with pytest.raises(ValueError, match="mask must contain 4 bytes"):
            apply_mask(b"data", key)

    @given(data=st.binary(max_size=2 * _TRANSLATE_MIN), key=st.binary(min_size=4, max_size=4))
    def test_variants_agree(self, data: bytes, key: bytes) -> None:
        """Both tricks and apply_mask agree with the naive reference on any input."""
        expected = naive_mask(data, key)
        assert apply_mask(data, key) == expected
        assert _mask_int(data, key) == expected
        assert _mask_translate(data, key) == expected

    @given(data=st.binary(max_size=2 * _TRANSLATE_MIN), key=st.binary(min_size=4, max_size=4))
    def test_involution(self, data: bytes, key: bytes) -> None:
        """Masking twice with the same key gives the payload back."""
        assert apply_mask(apply_mask(data, key), key) == data


@pytest.mark.usefixtures("fresh_pool")
class TestRandomMaskKey:
    """random_mask_key and its pool."""

    def test_type_and_length(self) -> None:
        """A key is 4 bytes."""
        key = random_mask_key()
        assert type(key) is bytes
        assert len(key) == 4

    def test_variety(self) -> None:
        """Keys across several pool refills are (nearly always) distinct."""
        keys = [random_mask_key() for _ in range(2000)]
        assert len(set(keys)) >= 1990  # two random 32-bit keys collide with p = 2**-32

    def test_refill_across_boundary(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Keys come from os.urandom in order, and the pool refills when it runs out."""
        calls: list[int] = []

        def pool(number: int, n: int) -> bytes:
            return bytes((number * 64 + i) % 256 for i in range(n))

        def fake_urandom(n: int) -> bytes:
            calls.append(n)
            return pool(len(calls), n)

        monkeypatch.setattr(os, "urandom", fake_urandom)
        size = mask._POOL_BYTES
        keys = [random_mask_key() for _ in range(size // 4 + 2)]
        first, second = pool(1, size), pool(2, size)
        expected = [first[i : i + 4] for i in range(0, size, 4)][::-1]  # handed out from the end
        expected += [second[i : i + 4] for i in range(0, size, 4)][::-1][:2]
        assert keys == expected
        assert calls == [size, size]

    def test_drop_pool(self) -> None:
        """_drop_pool empties the pool and the next key refills it."""
        random_mask_key()
        assert mask._keys
        mask._drop_pool()
        assert mask._keys == []
        random_mask_key()
        assert len(mask._keys) == mask._POOL_BYTES // 4 - 1

    def test_threads_never_share_a_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Threads racing over the pool and its refills never get the same key twice."""
        counter = iter(range(1 << 30))

        def unique_urandom(n: int) -> bytes:
            return b"".join(next(counter).to_bytes(4, "little") for _ in range(n // 4))

        monkeypatch.setattr(os, "urandom", unique_urandom)
        results: list[list[bytes]] = [[] for _ in range(4)]

        def draw(out: list[bytes]) -> None:
            for _ in range(3000):
                out.append(random_mask_key())

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            threads = [threading.Thread(target=draw, args=(out,)) for out in results]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            sys.setswitchinterval(interval)
        keys = [key for out in results for key in out]
        assert len(keys) == 12000
        assert len(set(keys)) == len(keys)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
    def test_fork_drops_pool(self) -> None:
        """A forked child starts with an empty pool, so it never reuses the parent's next key."""
        random_mask_key()
        parent_next = mask._keys[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # pragma: no cover (child; coverage isn't saved on os._exit)
            code = 1
            try:
                if mask._keys == [] and random_mask_key() != parent_next:
                    code = 0
            finally:
                os._exit(code)
        deadline = time.monotonic() + 10
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("forked child did not exit within 10 s")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
        assert mask._keys[-1] == parent_next  # the parent's pool is untouched


@pytest.mark.parametrize("size", [0, 1, 5, 100, 767, 768, 769, 1024, 2047, 2048, 2049, 65536 + 3])
def test_masked_frame_matches_apply_mask(size: int) -> None:
    """masked_frame() is header + key + apply_mask(payload), whatever the size or buffer type."""
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    header = b"\x82\x05"
    expected = header + b"\x37\xfa\x21\x3d" + apply_mask(payload, b"\x37\xfa\x21\x3d")
    for data in (payload, bytearray(payload), memoryview(b"xx" + payload)[2:]):
        assert bytes(masked_frame(header, b"\x37\xfa\x21\x3d", data)) == expected


def test_masked_frame_bad_key() -> None:
    """A key that isn't 4 bytes is refused."""
    with pytest.raises(ValueError, match="mask must contain 4 bytes"):
        masked_frame(b"\x82\x00", b"abc", b"")


def test_masked_frame_every_size_of_the_int_path() -> None:
    """
    Every payload size up to past _FRAME_INT_MAX masks right: exact key words below
    _TRANSLATE_MIN, key words rounded up to 64 bytes from there (cached repunits), then the
    in-place translation.
    """
    data = payload(_FRAME_INT_MAX + 70)
    for size in range(_FRAME_INT_MAX + 70):
        frame = masked_frame(b"\x82", KEY, data[:size])
        assert type(frame) is (bytes if size <= _FRAME_INT_MAX else bytearray)
        assert frame == b"\x82" + KEY + _mask_translate(data[:size], KEY), size
