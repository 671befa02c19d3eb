"""A run's figures read back from bench/results/latest.json, to render BENCHMARKS.md again.

A change to the report should not need a 19-minute run to show itself on real figures:
`python -m bench --render bench/results/latest.json` rebuilds the `Results` that run saved.
JSON turns tuples into lists and integer keys into strings; the field types say which was
which, so the dataclasses are rebuilt field by field from their annotations.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from pathlib import Path
from typing import Any, Dict, Union

from .results import Results

__all__ = ["from_json", "load_results", "to_json"]


def to_json(results: Results) -> str:
    """A run's figures as bench/results/latest.json keeps them."""
    return json.dumps(dataclasses.asdict(results), indent=1, default=str)


def from_json(text: str) -> Results:
    """The `Results` that `to_json` wrote."""
    results: Results = _dataclass(Results, json.loads(text))
    return results


def load_results(path: Path) -> Results:
    """The `Results` of the run that wrote `path` (bench/__main__.py `_save`)."""
    return from_json(path.read_text("utf-8"))


def _revive(kind: Any, value: Any) -> Any:
    """`value` as decoded JSON, rebuilt as `kind` (a dataclass or a typing annotation)."""
    if value is None or kind is Any:
        return value
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind, value)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Union:  # Optional[X]: None was handled above
        return _revive(next(arg for arg in args if arg is not type(None)), value)
    if origin is dict:
        key_kind, item_kind = args
        return {_revive(key_kind, k): _revive(item_kind, v) for k, v in value.items()}
    if origin is list:
        return [_revive(args[0], item) for item in value]
    if origin is tuple:
        return tuple(_revive(arg, item) for arg, item in zip(args, value))
    if kind in (int, float, str, bool):
        return kind(value)
    raise TypeError(f"cannot read {kind!r} back from a saved run")


def _dataclass(kind: Any, value: Dict[str, Any]) -> Any:
    hints = _init_hints(kind)
    return kind(
        **{name: _revive(hint, value[name]) for name, hint in hints.items() if name in value}
    )


@functools.lru_cache(maxsize=None)
def _init_hints(kind: type) -> Dict[str, Any]:
    """The annotations of `kind`'s init fields, resolved once per class, not per record."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind) if f.init}
