"""Checking TOML documents: line numbers of keys, typed values, unknown keys.

``tomllib`` parses TOML but reports no line numbers for the values it returns;
:class:`Locator` finds them in the text, and :class:`Reader` takes typed values out of
one table, raising ``FILE:LINE: message`` errors (expected vs got; unknown keys with the
closest valid one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.errors import HtaError, suggest

__all__ = ["Locator", "Reader", "tname", "typed"]


class Locator:
    """Line numbers of the tables and keys of a TOML text (``tomllib`` gives none)."""

    _PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""  # a bare or quoted key
    _KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        table: tuple = ()
        counts: dict[tuple, int] = {}
        depth = 0  # open brackets of a multi-line array
        for i, raw in enumerate(text.splitlines(), start=1):
            line = self._code(raw)
            s = line.strip()
            if depth > 0:
                depth += s.count("[") - s.count("]")
                continue
            m = re.match(r"^\s*\[\[\s*(.+?)\s*\]\]", line)
            if m:
                path = self._split(raw[m.start(1):m.end(1)])
                counts[path] = counts.get(path, -1) + 1
                table = path + (counts[path],)
                for k in range(1, len(path) + 1):  # [[sweep.scenarios]] also places [sweep]
                    self.lines.setdefault(path[:k], i)
                self.lines[table] = i
                continue
            m = re.match(r"^\s*\[\s*([^\[\]]+?)\s*\]", line)
            if m:
                table = self._split(raw[m.start(1):m.end(1)])
                for k in range(1, len(table) + 1):  # [sweep.grid] also places [sweep]
                    self.lines.setdefault(table[:k], i)
                continue
            m = self._KEY.match(line)
            if m:
                self.lines[table + self._split(raw[m.start(1):m.end(1)])] = i
                rest = line[m.end():]
                depth = max(0, rest.count("[") - rest.count("]"))

    @staticmethod
    def _code(raw: str) -> str:
        """The line without its comment and with string contents blanked (brackets in them do not count)."""
        out, quote = [], ""
        for ch in raw:
            if quote:
                out.append(ch if ch == quote else "_")
                if ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
                out.append(ch)
            elif ch == "#":
                break
            else:
                out.append(ch)
        return "".join(out)

    @staticmethod
    def _split(dotted: str) -> tuple:
        parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)
        return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)

    def line(self, path: tuple) -> int:
        """Line of ``path`` (or of its nearest located parent; 1 if none)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return 1


class Reader:
    """Takes typed values out of one table of the file; reports unknown keys."""

    def __init__(self, data: Mapping, path: tuple, file: Path, loc: Locator, valid: tuple[str, ...] | None = None):
        self.data, self.path, self.file, self.loc = dict(data), path, file, loc
        self.valid = valid
        self.used: set[str] = set()

    def err(self, key: str | None, message: str) -> HtaError:
        """An error ``FILE:LINE: message`` at ``key`` of this table (the table's line if ``key`` is None)."""
        path = self.path + ((key,) if key is not None else ())
        return HtaError(f"{self.file}:{self.loc.line(path)}: {message}")

    def choice(self, key: str, choices, default: str) -> str:
        """The string at ``key``, which must be one of ``choices`` (else an error suggesting the closest).

        Parameters
        ----------
        key : str
            The key in this table.
        choices : sequence of str
            The valid values.
        default : str
            The value when the key is absent.

        Returns
        -------
        str
        """
        value = self.get(key, "str", default)
        if value not in choices:
            raise self.err(key, f"{self.name(key)} {value!r}{suggest(value, choices)}; choose one of "
                                f"{', '.join(choices)}")
        return value

    def name(self, key: str) -> str:
        """The dotted name of ``key`` in the file (``one_way.outcome``)."""
        return ".".join(str(p) for p in self.path if not isinstance(p, int)) + ("." if self.path else "") + key

    def get(self, key: str, kind: str, default: Any = None, required: bool = False) -> Any:
        """The value of ``key`` checked as ``kind`` (see :func:`typed`), or ``default``; marks the key used.

        Parameters
        ----------
        key : str
            The key in this table.
        kind : str
            ``"str"``, ``"strs"``, ``"num"``, ``"num+"``, ``"nums"``, ``"int0"``, ``"int1"``,
            ``"int2"``, ``"bool"`` or ``"table"``.
        default : optional
            The value when the key is absent.
        required : bool
            Raise when the key is absent.

        Returns
        -------
        object
        """
        self.used.add(key)
        if key not in self.data:
            if required:
                self._typo(key)
                unknown = [k for k in self.data if self.valid is not None and k not in self.valid]
                if unknown:  # another name for the missing key: report it where it is
                    raise self.err(unknown[0], f"unknown key {self.name(unknown[0])!r} (valid keys: "
                                               f"{', '.join(self.valid)}); {self.name(key)} is required")
                raise self.err(None, f"missing key {self.name(key)!r} ({_WORDS.get(kind, kind)}); add e.g. "
                                     f"{key} = {_EXAMPLE.get(kind, '...')}")
            return default
        return typed(self.data[key], kind, lambda msg: self.err(key, f"{self.name(key)} {msg}"))

    def _typo(self, key: str) -> None:
        """Raise at an unknown key of this table that is a misspelling of the missing key ``key``."""
        valid = self.valid if self.valid is not None else ()
        for k in self.data:
            if k not in valid and k not in self.used and suggest(k, [key]):
                where = f" in [{'.'.join(str(p) for p in self.path if not isinstance(p, int))}]" if self.path else ""
                raise self.err(k, f"unknown key {k!r}{where}; did you mean {key!r}?")

    def finish(self) -> None:
        """Raise at the first key that no :meth:`get` asked for (suggesting the closest valid key)."""
        for key in self.data:
            if key not in self.used:
                valid = self.valid if self.valid is not None else tuple(self.used)
                raise self.err(key, f"unknown key {self.name(key)!r}{suggest(key, valid)}; valid keys: "
                                    f"{', '.join(valid)}")


#: The kinds of :func:`typed` in words, and an example value of each (for messages).
_WORDS = {"str": "text", "strs": "a list of texts", "num": "a number", "num+": "a number >= 0",
          "nums": "a list of numbers", "int": "a whole number", "int0": "a whole number >= 0",
          "int1": "a whole number >= 1", "int2": "a whole number >= 2", "bool": "true or false", "table": "a table"}
_EXAMPLE = {"str": '"..."', "strs": '["a", "b"]', "num": "1.5", "num+": "1.5", "nums": "[1, 2]", "int": "100",
            "int0": "100", "int1": "100", "int2": "100", "bool": "true", "table": "{...}"}


def tname(v: Any) -> str:
    """The kind of a value in plain words (``"whole number"``, ``"text"``, ``"list"``, ...)."""
    return {bool: "true/false value", int: "whole number", float: "number", str: "text", list: "list",
            dict: "table"}.get(type(v), type(v).__name__)


def typed(v: Any, kind: str, err) -> Any:
    """Check ``v`` against ``kind``; ``err(msg)`` builds the exception (``msg``: "must be ..., got ...")."""
    def bad(expected: str):
        return err(f"must be {expected}, got {tname(v)} {v!r}")

    if kind == "str":
        if not isinstance(v, str) or not v.strip():
            raise bad("non-empty text")
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise bad("true or false")
        return v
    if kind.startswith("int"):
        lo = int(kind[3:] or 0) if kind != "int" else None
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad("a whole number")
        if lo is not None and v < lo:
            raise err(f"must be >= {lo}, got {v}")
        return v
    if kind in ("num", "num+"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise bad("a finite number")
        if kind == "num+" and v < 0:
            raise err(f"must be >= 0, got {v}")
        return float(v)
    if kind == "nums":
        if not isinstance(v, list) or not v:
            raise bad("a non-empty list of numbers")
        return tuple(typed(x, "num", lambda m, i=i: err(f"item {i + 1}: {m}")) for i, x in enumerate(v))
    if kind == "strs":
        if not isinstance(v, list) or not v:
            raise bad("a non-empty list of texts")
        return tuple(typed(x, "str", lambda m, i=i: err(f"item {i + 1}: {m}")) for i, x in enumerate(v))
    if kind == "table":
        if not isinstance(v, dict):
            raise bad("a table")
        return v
    raise AssertionError(kind)
