"""Checks on the ``params:`` dictionaries nodes receive, so a typo fails loudly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class ParameterError(ValueError):
    """A parameter block has an unknown or missing key."""


def check_keys(
    block: Mapping, where: str, required: Iterable[str] = (), optional: Iterable[str] = ()
) -> dict:
    """Return ``block`` as a dict after checking it has every required key and nothing unknown."""
    if not isinstance(block, Mapping):
        raise ParameterError(f"parameters {where} must be a mapping, got {type(block).__name__}")
    required, optional = set(required), set(optional)
    missing = sorted(required - set(block))
    unknown = sorted(set(block) - required - optional)
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {unknown} in {where}; allowed: {sorted(required | optional)}"
        )
    if missing:
        raise ParameterError(f"missing parameter(s) {missing} in {where}")
    return dict(block)


def flatten(block: Mapping, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: the dotted keys a user passes to ``--params``."""
    out = {}
    for key, value in block.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out
