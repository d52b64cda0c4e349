"""What the plugin accepts at its hooks: the contract's own records, rebuilt and checked.

A host need not use the contract's attrs classes; a third-party host may pass objects of its
own with the same attributes. Whatever arrives is rebuilt as the contract's class from that
class's own field list, so the contract's validators (intervals, ranges, epoch milliseconds, and
whatever later versions add) run on it, and each value is checked against the field's declared
type. A missing optional attribute takes the contract's default, so a host written for an
earlier version of the contract keeps working (contract v1 configs have no ``channel``); a
near spelling of a missing one (``backfil_from``) is refused rather than silently ignored.
Anything else (a missing required attribute, a float for an int, a reversed range, seconds for
milliseconds) is an :class:`InvalidRequest` naming the field, never zero rows or an
AttributeError from deep inside.
"""

from __future__ import annotations

import collections.abc
import difflib
import enum
import types
import typing
from typing import Any, TypeVar

import attrs

from host_stub.spec import InvalidRequest

T = TypeVar("T")


def checked(cls: type[T], value: object, what: str) -> T:
    """``value`` as a valid ``cls`` (an attrs class of the contract), or InvalidRequest."""
    fields = [f for f in attrs.fields(cls) if f.init]  # type: ignore[arg-type]
    absent = [f for f in fields if not hasattr(value, f.name)]
    missing = [f.name for f in absent if f.default is attrs.NOTHING]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise InvalidRequest(
            f"{what} has no {names} attribute{'s' * (len(missing) > 1)}: a {cls.__name__} "
            f"needs {', '.join(f.name for f in fields)} (host_stub.spec.{cls.__name__} builds one)"
        )
    _refuse_misspellings(cls, value, what, [f.name for f in absent])
    hints = _types(cls)
    values = {
        f.name: _enum_member(getattr(value, f.name), hints.get(f.name))
        for f in fields
        if f not in absent
    }
    for f in fields:
        if f.converter is None and f.name in values:  # converted fields: checked below
            _check(cls, what, f.name, values[f.name], hints.get(f.name))
    try:
        rebuilt = cls(**{f.alias: values[f.name] for f in fields if f.name in values})
    except InvalidRequest:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} is not a valid {cls.__name__}: {exc}") from None
    for f in fields:
        if f.converter is not None:
            _check(cls, what, f.name, getattr(rebuilt, f.name), hints.get(f.name))
    return rebuilt


def _refuse_misspellings(cls: type, value: object, what: str, absent: list[str]) -> None:
    """An optional field the record lacks takes its default (a host written for an earlier
    contract version keeps working), unless the record carries a near spelling of it: then the
    host meant that field, and silently using the default would lose its value."""
    if not absent:
        return
    try:
        given = [name for name in vars(value) if not name.startswith("_")]
    except TypeError:  # no __dict__ (slots, builtins): nothing to compare
        given = [n for n in getattr(type(value), "__slots__", ()) if isinstance(n, str)]
    for name in absent:
        near = difflib.get_close_matches(name, given, n=1, cutoff=0.8)
        if near:
            raise InvalidRequest(
                f"{what} has {near[0]!r} but no {name!r} attribute: did you mean {name!r}? "
                f"(see host_stub.spec.{cls.__name__})"
            )


def _enum_member(value: object, hint: Any) -> object:
    """An enum field given as its value (``"trades"`` for ``Channel.TRADES``, as a host with
    its own records would) becomes the member; anything else is left to the checks."""
    for arm in _arms(hint):
        if isinstance(arm, type) and issubclass(arm, enum.Enum) and not isinstance(value, arm):
            try:
                return arm(value)
            except ValueError:
                continue
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _types(cls: type) -> dict[str, Any]:
    """The resolved annotation of each field (empty if they cannot be resolved)."""
    if cls not in _HINTS:
        try:
            _HINTS[cls] = typing.get_type_hints(cls)
        except (NameError, TypeError):
            _HINTS[cls] = {}
    return _HINTS[cls]


def _check(cls: type, what: str, name: str, value: object, hint: Any) -> None:
    if hint is None or _conforms(value, hint):
        return
    raise InvalidRequest(
        f"{what}.{name} must be {_spell(hint)}, got {type(value).__name__} {value!r} "
        f"(see host_stub.spec.{cls.__name__})"
    )


def _conforms(value: object, hint: Any) -> bool:
    """Whether ``value`` fits ``hint``, as far as a plain isinstance can tell: unions, the
    builtins (a bool is not an int here), enums, nested records, and the outer type of a
    generic. Whatever cannot be told passes, to the class's own validators."""
    if hint is Any or isinstance(hint, TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    if _is_union(hint):
        return any(_conforms(value, arm) for arm in _arms(hint))
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is not None:
        return not isinstance(origin, type) or isinstance(value, origin)
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(hint, type):
        if attrs.has(hint) and not isinstance(value, hint):
            return all(hasattr(value, f.name) for f in attrs.fields(hint) if f.init)
        return isinstance(value, hint)
    return True


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _arms(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) if _is_union(hint) else (hint,)


def _spell(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if _is_union(hint):
        return " or ".join(_spell(arm) for arm in _arms(hint))
    if hint is None or hint is type(None):
        return "None"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"a {hint.__name__} ({', '.join(repr(m.value) for m in hint)})"
    if isinstance(origin, type) and issubclass(origin, collections.abc.Iterable):
        return f"a {origin.__name__}"
    return getattr(hint, "__name__", str(hint))
