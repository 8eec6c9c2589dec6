"""Tests for fastws.datastructures."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.datastructures import Headers, MultipleValuesError

CONNECTION_UPGRADE = b"Connection: Upgrade\r\nServer: fastws\r\n\r\n"


class KeysAndGetItem:
    """Not a Mapping, but has keys() and __getitem__, like what dict.update() accepts."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    def keys(self) -> Iterable[str]:
        return self.data.keys()

    def __getitem__(self, key: str) -> str:
        return self.data[key]


@pytest.fixture
def headers() -> Headers:
    """Headers with one single-valued and one multi-valued name."""
    return Headers([("Connection", "Upgrade"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])


class TestMultipleValuesError:
    def test_str_single_arg(self) -> None:
        """One argument shows as its repr, like KeyError."""
        assert str(MultipleValuesError("Set-Cookie")) == "'Set-Cookie'"

    def test_str_no_arg(self) -> None:
        """No argument gives an empty message."""
        assert str(MultipleValuesError()) == ""

    def test_str_many_args(self) -> None:
        """Several arguments show as a tuple."""
        assert str(MultipleValuesError("a", "b")) == "('a', 'b')"

    def test_is_lookup_error(self) -> None:
        """It is a LookupError but not a KeyError."""
        assert issubclass(MultipleValuesError, LookupError)
        assert not issubclass(MultipleValuesError, KeyError)


class TestConstructor:
    def test_empty(self) -> None:
        """No argument gives empty headers."""
        assert len(Headers()) == 0

    def test_from_headers(self, headers: Headers) -> None:
        """Another Headers contributes every value, repeated ones included."""
        assert list(Headers(headers).raw_items()) == list(headers.raw_items())

    def test_from_mapping(self) -> None:
        """A dict is accepted."""
        assert list(Headers({"Server": "x"}).raw_items()) == [("Server", "x")]

    def test_from_keys_and_getitem(self) -> None:
        """An object with keys() and __getitem__ is accepted."""
        assert list(Headers(KeysAndGetItem({"A": "1"})).raw_items()) == [("A", "1")]

    def test_from_pairs(self) -> None:
        """An iterable of pairs is accepted, repetitions included."""
        pairs = [("A", "1"), ("a", "2")]
        assert list(Headers(iter(pairs)).raw_items()) == pairs

    def test_from_kwargs(self) -> None:
        """Keyword arguments come after the positional source."""
        assert list(Headers([("A", "1")], B="2").raw_items()) == [("A", "1"), ("B", "2")]

    def test_two_sources(self) -> None:
        """More than one positional argument is refused."""
        with pytest.raises(TypeError, match="at most 1 argument, got 2"):
            Headers({}, {})


class TestMapping:
    def test_getitem_case_insensitive(self, headers: Headers) -> None:
        """Lookups ignore case."""
        assert headers["CONNECTION"] == "Upgrade"

    def test_getitem_missing(self, headers: Headers) -> None:
        """A missing header raises KeyError."""
        with pytest.raises(KeyError):
            headers["Upgrade"]

    def test_getitem_multiple(self, headers: Headers) -> None:
        """A repeated header raises MultipleValuesError naming it."""
        with pytest.raises(MultipleValuesError) as exc_info:
            headers["Set-Cookie"]
        assert str(exc_info.value) == "'Set-Cookie'"

    def test_get(self, headers: Headers) -> None:
        """get() returns the default for a missing header."""
        assert headers.get("Upgrade") is None
        assert headers.get("connection") == "Upgrade"

    def test_setitem_appends(self, headers: Headers) -> None:
        """Setting a header adds a value instead of replacing."""
        headers["CONNECTION"] = "close"
        assert headers.get_all("connection") == ["Upgrade", "close"]
        assert list(headers.raw_items())[-1] == ("CONNECTION", "close")

    def test_delitem(self, headers: Headers) -> None:
        """Deleting removes every value whatever the case."""
        del headers["SET-COOKIE"]
        assert "set-cookie" not in headers
        assert list(headers.raw_items()) == [("Connection", "Upgrade")]

    def test_delitem_missing(self, headers: Headers) -> None:
        """Deleting a missing header raises KeyError."""
        with pytest.raises(KeyError):
            del headers["Upgrade"]

    def test_contains(self, headers: Headers) -> None:
        """Membership ignores case and is False for non-str keys."""
        assert "connection" in headers
        assert "Upgrade" not in headers
        not_a_str: object = 42
        assert not_a_str not in headers

    def test_iter_and_len(self, headers: Headers) -> None:
        """Iteration yields each lower-cased name once; len counts names."""
        assert list(headers) == ["connection", "set-cookie"]
        assert len(headers) == 2

    def test_get_all_missing(self, headers: Headers) -> None:
        """get_all() returns an empty list for a missing header."""
        assert headers.get_all("Upgrade") == []

    def test_get_all_is_a_copy(self, headers: Headers) -> None:
        """Changing the list returned by get_all() doesn't change the headers."""
        headers.get_all("set-cookie").append("c=3")
        assert headers.get_all("set-cookie") == ["a=1", "b=2"]


class TestMethods:
    def test_str(self, headers: Headers) -> None:
        """str() is the header block with CRLF line ends and a final CRLF."""
        assert str(headers) == "Connection: Upgrade\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n"

    def test_str_empty(self) -> None:
        """Empty headers serialize to the final CRLF only."""
        assert Headers().serialize() == b"\r\n"

    def test_serialize(self) -> None:
        """serialize() gives the exact bytes."""
        assert Headers(Connection="Upgrade", Server="fastws").serialize() == CONNECTION_UPGRADE

    def test_serialize_non_ascii(self) -> None:
        """Non-ASCII text is written as UTF-8."""
        assert Headers(Server="é").serialize() == b"Server: \xc3\xa9\r\n\r\n"

    def test_serialize_surrogate_escape(self) -> None:
        """A value parsed from non-ASCII bytes can't be serialized."""
        with pytest.raises(UnicodeEncodeError):
            Headers(Server="\udce9").serialize()

    def test_repr(self) -> None:
        """repr() shows the raw pairs."""
        assert repr(Headers(A="1")) == "Headers([('A', '1')])"

    def test_copy_is_independent(self, headers: Headers) -> None:
        """A copy is equal, and changing it leaves the original alone."""
        copy = headers.copy()
        assert copy == headers and copy is not headers
        copy["Connection"] = "close"
        assert headers["Connection"] == "Upgrade"
        assert copy != headers

    def test_copy_of_subclass(self) -> None:
        """copy() keeps the subclass."""

        class MyHeaders(Headers):
            __slots__ = ()

        assert type(MyHeaders().copy()) is MyHeaders

    def test_eq(self) -> None:
        """Equality ignores the case of names but not the order of values."""
        assert Headers(A="1") == Headers(a="1")
        assert Headers([("A", "1"), ("A", "2")]) != Headers([("A", "2"), ("A", "1")])

    def test_eq_other_type(self) -> None:
        """Headers never equal a plain dict."""
        assert Headers(a="1") != {"a": "1"}

    def test_clear(self, headers: Headers) -> None:
        """clear() empties everything."""
        headers.clear()
        assert len(headers) == 0
        assert list(headers.raw_items()) == []

    def test_update_with_itself(self, headers: Headers) -> None:
        """update() with itself duplicates the values and terminates."""
        headers.update(headers)
        assert headers.get_all("connection") == ["Upgrade", "Upgrade"]

    def test_update_appends(self, headers: Headers) -> None:
        """update() adds values, as in the handshake's extra_headers."""
        headers.update({"Connection": "keep-alive"}, Origin="o")
        assert headers.get_all("connection") == ["Upgrade", "keep-alive"]
        assert headers["origin"] == "o"


_NAME = st.text(alphabet="abcXYZ-0123", min_size=1, max_size=8)
_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@given(st.lists(st.tuples(_NAME, _VALUE), max_size=8))
def test_serialize_round_trip(pairs: list[tuple[str, str]]) -> None:
    """serialize() writes one line per pair, in order, and lookups see every value."""
    headers = Headers(pairs)
    lines = headers.serialize().split(b"\r\n")
    assert lines[-2:] == [b"", b""]
    assert lines[:-2] == [f"{name}: {value}".encode() for name, value in pairs]
    for name, _ in pairs:
        expected = [v for n, v in pairs if n.lower() == name.lower()]
        assert headers.get_all(name) == expected
