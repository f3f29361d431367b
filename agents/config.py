"""Typed configuration of spiking agents: nested frozen dataclasses, validated once.

* :class:`Section` is the base of every configuration dataclass. Constructing one converts
  and checks every field against its annotation (``RuleConfig(lr="fast")`` raises
  ``lr must be a number, got 'fast'``), then :meth:`Section.validate` checks the values.
  A field annotated with another section takes an instance or a mapping of its fields.
* A field annotated with a *tagged* base class, one with a ``registry`` of subclasses by
  name (critics, reward functions), holds one of them; in plain data it is written
  ``{"type": name, **fields}`` (or just the name, for all defaults).
* :func:`to_dict` / :func:`from_dict` turn a configuration into plain data (dicts, lists,
  strings, numbers, None) and back; YAML files and checkpoints hold that form, and the
  round trip gives an equal configuration.
* :func:`merge` applies overrides, given as nested mappings, dotted keys
  (``{"rule.lr": 0.02}``) or both; changing a tagged section's ``type`` starts that section
  from the new type's defaults. The result is validated like any construction.

Every error is a :class:`ConfigError` (a ValueError) that names the field by its dotted
path, e.g. ``rule.lr must be >= 0, got -1.0``.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from snn_rl.envs.rewards import EnvReward, FunctionReward, RewardFunction

__all__ = ["AgentConfig", "ConfigError", "Section", "from_dict", "merge", "to_dict"]

S = TypeVar("S")


class ConfigError(ValueError):
    """An invalid configuration value; ``path`` is the dotted field path ("" for the root)."""

    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(self._text())

    def _text(self) -> str:
        if not self.path:
            return self.message
        sep = " " if self.message.startswith(("must ", "is ")) else ": "
        return f"{self.path}{sep}{self.message}"

    def within(self, prefix: str) -> ConfigError:
        """The same error seen from the section that holds field ``prefix``."""
        if not prefix:
            return self
        return ConfigError(f"{prefix}.{self.path}" if self.path else prefix, self.message)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_tagged(tp: Any) -> bool:
    return isinstance(tp, type) and isinstance(getattr(tp, "registry", None), dict)


def _describe(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if get_origin(tp) is Literal:
        return f"one of {list(get_args(tp))}"
    if get_origin(tp) is tuple:
        return f"a list of {_describe(get_args(tp)[0])}"
    names = {bool: "a bool", int: "an int", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """``value`` converted to the annotation ``tp`` (list -> tuple, int -> float, mapping ->
    section), or ConfigError naming ``path``."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path)
            except ConfigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(path, f"must be {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigError(path, f"must be one of {list(args)}, got {value!r}")
    if origin is tuple:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
            raise ConfigError(path, f"must be {_describe(tp)}, got {value!r}")
        return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be a bool, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ConfigError(path, f"must be an int, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(path, f"must be a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(path, f"must be finite, got {value}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"must be a string, got {value!r}")
        return value
    if _is_tagged(tp):
        return _coerce_tagged(tp, value, path)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, path)
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"must be a mapping, got {value!r}")
        return dict(value)
    if origin is Callable or tp is Callable:
        if not callable(value):
            raise ConfigError(path, f"must be callable, got {value!r}")
        return value
    raise TypeError(f"{path}: annotation {tp!r} is not supported by the config converter")


def _coerce_tagged(base: type, value: Any, path: str) -> Any:
    registry: dict[str, type] = base.registry
    if isinstance(value, base):
        return value
    if isinstance(value, str):
        value = {"type": value}
    names = sorted(k for k in registry if k != FunctionReward.kind)
    if not isinstance(value, Mapping) or "type" not in value:
        raise ConfigError(
            path,
            f"must be a {base.__name__} or a mapping with 'type' (one of {names}), got {value!r}",
        )
    kind = value["type"]
    if kind == FunctionReward.kind:
        name = value.get("name", "a function")
        raise ConfigError(
            path,
            f"is a custom reward function ({name}), which plain data cannot hold; pass the "
            "function itself (reward=...) to rebuild this configuration",
        )
    if kind not in registry:
        raise ConfigError(f"{path}.type", f"must be one of {names}, got {kind!r}")
    return from_dict(registry[kind], {k: v for k, v in value.items() if k != "type"}, path)


def from_dict(cls: type[S], data: Any, path: str = "") -> S:
    """Build the dataclass ``cls`` from a mapping of its fields (unknown keys raise)."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, f"must be a mapping of {cls.__name__} fields, got {data!r}")
    names = [f.name for f in fields(cls) if f.init]
    for key in data:
        if key not in names:
            raise ConfigError(
                f"{path}.{key}" if path else str(key),
                f"is not a field of {cls.__name__}; valid fields: {names}",
            )
    for f in fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.init and required and f.name not in data:
            raise ConfigError(f"{path}.{f.name}" if path else f.name, "is required")
    if not issubclass(cls, Section):  # a plain dataclass (envs/): convert its fields here
        hints = _hints(cls)
        data = {k: _coerce(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()}
    try:
        return cls(**data)
    except ConfigError as err:
        raise err.within(path) from None
    except (ValueError, TypeError) as err:  # a dataclass that validates itself (envs/)
        raise ConfigError(path, str(err)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, FunctionReward):
        return {"type": FunctionReward.kind, "name": value.name}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": value.kind} if _is_tagged(type(value)) else {}
        out.update({f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.init})
        return out
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """Plain data of a configuration (what YAML files and checkpoints hold)."""
    return _plain(config)


def _tree(value: Any) -> Any:
    """Like :func:`to_dict`, but objects that plain data cannot hold stay as they are."""
    if isinstance(value, FunctionReward):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": value.kind} if _is_tagged(type(value)) else {}
        out.update({f.name: _tree(getattr(value, f.name)) for f in fields(value) if f.init})
        return out
    if isinstance(value, tuple):
        return [_tree(v) for v in value]
    return value


def _changes_type(key: str, value: Any) -> bool:
    return key.split(".")[-1] == "type" or (isinstance(value, Mapping) and "type" in value)


def _apply(node: dict, parts: list[str], value: Any, path: str) -> None:
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"{path}{where}", "is not a section, so it has no fields to set")
        node = child
    key = parts[-1]
    current = node.get(key)
    if key == "type" and "type" in node and value != node["type"]:
        node.clear()  # another kind: start from its defaults
        node["type"] = value
    elif isinstance(value, Mapping) and isinstance(current, dict):
        if "type" in value and value["type"] != current.get("type"):
            node[key] = dict(value)
        else:
            for sub, v in sorted(value.items(), key=lambda kv: not _changes_type(*kv)):
                _apply(current, [sub], v, f"{path}{key}.")
    else:
        node[key] = value


def merge(config: S, overrides: Mapping[str, Any] | None, *, source: str = "") -> S:
    """A new configuration: ``config`` with ``overrides`` applied and validated.

    Args:
        overrides: nested mappings and/or dotted keys, e.g. ``{"rule": {"lr": 0.02},
            "critic.gamma": 0.99}``; a tagged section may be given by name
            (``{"critic": "none"}``).
        source: where the overrides come from, for error messages (e.g. a file name).
    """
    if not overrides:
        return config
    if not isinstance(overrides, Mapping):
        raise ConfigError("", f"overrides must be a mapping of fields, got {overrides!r}")
    tree = _tree(config)
    for key, value in sorted(overrides.items(), key=lambda kv: not _changes_type(*kv)):
        if not isinstance(key, str) or not key:
            raise ConfigError("", f"override keys must be field names, got {key!r}")
        if isinstance(value, str) and _is_tagged_path(type(config), key):
            value = {"type": value}
        _apply(tree, key.split("."), value, "")
    try:
        return from_dict(type(config), tree)
    except ConfigError as err:
        if source:
            raise ConfigError(err.path, f"{err.message} (from {source})") from None
        raise


def _is_tagged_path(cls: type, key: str) -> bool:
    tp: Any = cls
    for part in key.split("."):
        if not dataclasses.is_dataclass(tp) or part not in _hints(tp):
            return False
        tp = _hints(tp)[part]
        if get_origin(tp) in (Union, types.UnionType):
            tp = next((a for a in get_args(tp) if a is not type(None)), tp)
    return _is_tagged(tp)


@dataclass(frozen=True)
class Section:
    """Base of configuration dataclasses: fields converted to their annotations, then
    :meth:`validate`d; errors name the field (see the module docstring)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in fields(self):
            if not f.init:
                continue
            object.__setattr__(self, f.name, _coerce(hints[f.name], getattr(self, f.name), f.name))
        try:
            self.validate()
        except ConfigError:
            raise
        except (ValueError, TypeError) as err:
            first, _, rest = str(err).partition(" ")
            if first in {f.name for f in fields(self)}:
                raise ConfigError(first, rest) from None
            raise ConfigError("", str(err)) from None

    def validate(self) -> None:
        """Check the values (types are already checked); raise ValueError naming the field."""

    def replace(self: S, **changes: Any) -> S:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class AgentConfig(Section):
    """Base of an agent's configuration: what every spiking agent needs.

    Attributes:
        n_envs: envs built from an env id (a given vector env brings its own number).
        reward: the reward function the agent learns from (by default the critic's reward).
    """

    n_envs: int = 16
    reward: RewardFunction = field(default_factory=EnvReward)

    def validate(self) -> None:
        if self.n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {self.n_envs}")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any]) -> S:
        return from_dict(cls, data)

    def merged(self: S, overrides: Mapping[str, Any] | None, *, source: str = "") -> S:
        return merge(self, overrides, source=source)
