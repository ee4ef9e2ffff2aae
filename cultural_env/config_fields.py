"""Validation of configuration fields and construction of config dataclasses from mappings.

Config dataclasses call :func:`require_range` and friends in ``__post_init__``; YAML files and
``key=value`` overrides go through :func:`build_dataclass`, which rejects unknown keys by name
with a did-you-mean suggestion and checks value types against the annotations.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from cultural_env.errors import ConfigError

T = TypeVar("T")


def require_range(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    integer: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number within the given bounds."""
    kind = "an integer" if integer else "a number"
    valid_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not valid_type:
        raise ConfigError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    too_low = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    too_high = maximum is not None and value > maximum
    if too_low or too_high or value != value:  # value != value catches NaN
        raise ConfigError(f"{name} must be {kind} {' and '.join(bounds)}, got {value!r}")


def require_choice(name: str, value: Any, choices: typing.Iterable[Any]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")


def suggest(name: str, candidates: typing.Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest candidate, or '' when none is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def build_dataclass(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a mapping, recursing into nested config dataclasses.

    ``where`` names the place in the file (e.g. ``"env.acceptance"``) for error messages. Unknown
    keys and values of the wrong type raise :class:`ConfigError`; errors raised by the
    dataclass's own validation get ``where`` prefixed.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'} must be a mapping of keys to values, got {type(data).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {_join(where, key)!r}{suggest(str(key), fields)}; known keys: {known}")
        values[key] = _convert(hints[key], value, _join(where, key))
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}" if where else str(error)) from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _convert(annotation: Any, value: Any, where: str) -> Any:
    """Check ``value`` against a type annotation, building nested dataclasses and tuples."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        errors = []
        for option in arguments:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where} has an invalid value {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        return build_dataclass(annotation, value, where)
    if origin is typing.Literal:
        require_choice(where, value, arguments)
        return value
    if origin in (tuple, list) or annotation in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item_type = arguments[0] if arguments else Any
        return tuple(_convert(item_type, item, f"{where}[{index}]") for index, item in enumerate(value))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if annotation is float:
        if isinstance(value, str):
            # PyYAML reads exponent forms without a dot, such as 1e-5, as strings.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r} ({type(value).__name__})")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r} ({type(value).__name__})")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r} ({type(value).__name__})")
        return value
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ConfigError(f"{where} must be a {annotation.__name__}, got {value!r}")
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b=value"`` into (["a", "b"], value), with the value parsed as YAML."""
    import yaml

    key, separator, raw = text.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"invalid override {text!r}; write KEY=VALUE, for example agent.loss=reverse_kl")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid value in override {text!r}: {error}") from None
    return key.strip().split("."), value


def set_nested(data: dict, path: list[str], value: Any) -> None:
    """Set ``data[path[0]][path[1]]... = value``, creating intermediate mappings."""
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {'.'.join(path)}: {key!r} is not a section")
        node = child
    node[path[-1]] = value


def read_yaml(path: Any) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; raise :class:`ConfigError` naming the file on failure."""
    import os

    import yaml

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}; pass a YAML file such as configs/tiny.yaml")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML in {path}: {_one_line_yaml_error(error)}; fix the file or check it with a YAML linter") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must contain a mapping of sections, got {type(data).__name__}")
    return data


def _one_line_yaml_error(error: Exception) -> str:
    """PyYAML's problem and its 1-based line and column, on one line (its own message spans several)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem
