"""
HTTP header storage: a case-insensitive mapping that keeps repeated fields.

RFC 7230 section 3.2: "Each header field consists of a case-insensitive field name followed by a
colon", and section 3.2.2: "A sender MUST NOT generate multiple header fields with the same field
name [...] unless [...] that header field is defined as a comma-separated list". Both rules mean
a plain ``dict`` is not enough, hence :class:`Headers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Protocol, cast

__all__ = ["Headers", "HeadersLike", "MultipleValuesError", "SupportsKeysAndGetItem"]


class MultipleValuesError(LookupError):
    """Raised by ``headers[name]`` when the header ``name`` occurs more than once."""

    def __str__(self) -> str:
        """
        Render the error the way :class:`KeyError` does.

        Returns:
            The ``repr`` of the single argument (the header name), else the default text.
        """
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class Headers(MutableMapping[str, str]):
    """
    Case-insensitive multi-valued mapping of HTTP header names to values.

    Lookups ignore case; the original spelling and order are kept for serialization.

    - ``headers[name]`` returns the only value, raises :class:`KeyError` when there is none and
      :class:`MultipleValuesError` when there are several.
    - ``headers[name] = value`` *adds* a value; it never replaces existing ones.
    - ``del headers[name]`` removes every value of ``name``.
    - :meth:`get_all` and :meth:`raw_items` expose repeated values explicitly.

    Iteration yields lower-cased names, each once.

    Args:
        *args: at most one :data:`HeadersLike` source of initial headers.
        **kwargs: further headers, given as ``name=value``.

    Raises:
        TypeError: If more than one positional argument is given.
    """

    __slots__ = ("_list",)

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        # Only (name, value) pairs in arrival order: lookups scan them. Header blocks are short
        # (at most 128 headers in a response), and a connection keeps two of them for its
        # whole life, so no index dict (profiling/: memory per idle connection).
        self._list: list[tuple[str, str]] = []
        self.update(*args, **kwargs)

    def __str__(self) -> str:
        """
        Format the headers as an HTTP header block.

        Returns:
            One ``Name: value`` line per value, each ending with CRLF, then an empty line.
        """
        # RFC 7230 section 3: header-field lines each followed by CRLF, then a final CRLF.
        return "".join([f"{name}: {value}\r\n" for name, value in self._list]) + "\r\n"

    def __repr__(self) -> str:
        """
        Show the stored ``(name, value)`` pairs.

        Returns:
            ``Headers([...])`` with the raw pairs.
        """
        return f"{type(self).__name__}({self._list!r})"

    def copy(self) -> Headers:
        """
        Copy the headers; the copy can be changed without affecting the original.

        Returns:
            A new instance of the same class with the same values.
        """
        other = type(self)()
        other._list = self._list.copy()
        return other

    def serialize(self) -> bytes:
        """
        Encode the headers for the wire.

        Returns:
            The header block of :meth:`__str__`, encoded as UTF-8 (plain ASCII in practice).

        Raises:
            UnicodeEncodeError: If a value holds a surrogate escape, i.e. it was parsed from
                non-ASCII bytes.
        """
        return str(self).encode()

    def __contains__(self, key: object) -> bool:
        """
        Tell whether a header is present, ignoring case.

        Args:
            key: header name; anything but a ``str`` is never present.

        Returns:
            True if at least one value is stored under ``key``.
        """
        if not isinstance(key, str):
            return False
        lowered = key.lower()
        return any(name.lower() == lowered for name, _ in self._list)

    def __iter__(self) -> Iterator[str]:
        """
        Iterate over header names.

        Returns:
            An iterator of distinct lower-cased names, in order of first appearance.
        """
        return iter(self._grouped())

    def __len__(self) -> int:
        """
        Count distinct header names.

        Returns:
            The number of distinct names, ignoring case and repetitions.
        """
        return len(self._grouped())

    def __getitem__(self, key: str) -> str:
        """
        Return the single value of a header.

        Args:
            key: header name, in any case.

        Returns:
            The value.

        Raises:
            KeyError: If the header is absent.
            MultipleValuesError: If the header has more than one value.
        """
        values = self.get_all(key)
        if len(values) == 1:
            return values[0]
        if not values:
            raise KeyError(key.lower())
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        """
        Add a value to a header, keeping the values already there.

        Args:
            key: header name, in any case.
            value: header value.
        """
        self._list.append((key, value))

    def __delitem__(self, key: str) -> None:
        """
        Remove every value of a header.

        Args:
            key: header name, in any case.

        Raises:
            KeyError: If the header is absent.
        """
        lowered = key.lower()
        kept = [item for item in self._list if item[0].lower() != lowered]
        if len(kept) == len(self._list):
            raise KeyError(lowered)
        self._list = kept

    def __eq__(self, other: object) -> bool:
        """
        Compare with another :class:`Headers`, ignoring the case of names.

        Args:
            other: object to compare with.

        Returns:
            True if both hold the same values, in the same order, for each name.
            ``NotImplemented`` when ``other`` isn't a :class:`Headers`.
        """
        if not isinstance(other, Headers):
            return NotImplemented
        return self._grouped() == other._grouped()

    def clear(self) -> None:
        """Remove all headers."""
        self._list = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """
        Add headers from another source; existing values are kept (see :meth:`__setitem__`).

        Args:
            *args: at most one :data:`HeadersLike`: a :class:`Headers` (every value is
                copied), a mapping or object with ``keys()``, or an iterable of pairs.
            **kwargs: further headers, given as ``name=value``.

        Raises:
            TypeError: If more than one positional argument is given.
        """
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        if args:
            other = args[0]
            if isinstance(other, Headers):
                # Snapshot so that h.update(h) terminates.
                for name, value in list(other._list):
                    self[name] = value
            elif isinstance(other, Mapping) or hasattr(other, "keys"):
                mapping = cast(SupportsKeysAndGetItem, other)
                for name in mapping.keys():
                    self[name] = mapping[name]
            else:
                for name, value in other:
                    self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def get_all(self, key: str) -> list[str]:
        """
        Return every value of a header.

        Args:
            key: header name, in any case.

        Returns:
            A new list of the values in arrival order; empty if the header is absent.
        """
        lowered = key.lower()
        return [value for name, value in self._list if name.lower() == lowered]

    def _grouped(self) -> dict[str, list[str]]:
        """Lower-cased name -> values, names in order of first appearance."""
        grouped: dict[str, list[str]] = {}
        for name, value in self._list:
            grouped.setdefault(name.lower(), []).append(value)
        return grouped

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """
        Iterate over all stored headers.

        Returns:
            An iterator of ``(name, value)`` pairs, names as given, in arrival order.
        """
        return iter(self._list)


class SupportsKeysAndGetItem(Protocol):
    """Any object with ``keys()`` and ``__getitem__``, like ``dict``; ``dict.update`` accepts it."""

    def keys(self) -> Iterable[str]:
        """
        List the names.

        Returns:
            The header names.
        """

    def __getitem__(self, key: str) -> str:
        """
        Look up one value.

        Args:
            key: a name returned by :meth:`keys`.

        Returns:
            Its value.
        """


HeadersLike = Headers | Mapping[str, str] | Iterable[tuple[str, str]] | SupportsKeysAndGetItem
"""What :class:`Headers` and APIs taking headers accept: headers, a str mapping, or str pairs."""
