"""Parameter schemas, checked before any node runs: each paper declares the shape of its
``parameters_<paper>.yml`` block as pydantic models (``pipelines/<paper>/schema.py``), and
:func:`validate_parameters` reports every key that does not fit, with its full dotted key, what
was expected and what was given."""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from iclr17.common.config import ParameterError

# top-level runtime parameters that say where things go, not what a pipeline computes
RUNTIME_KEYS = frozenset({"data_root", "mlflow_tracking_uri", "resume"})


class Schema(BaseModel):
    """A parameter block: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def _models_in(annotation) -> list[type[BaseModel]]:
    """The schema classes an annotation holds (through Optional, unions, dict and list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict:
        args = args[1:]  # the values'
    return [m for a in args for m in _models_in(a)]


def _known_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys allowed at ``path`` inside ``model`` (the keys of a mapping's values skipped)."""
    models = [model]
    for part in path:
        nxt = []
        for m in models:
            field = m.model_fields.get(part)
            if field is not None:
                nxt += _models_in(field.annotation)
            elif getattr(m, "__pydantic_extra__", None) is None:
                nxt.append(m)  # a mapping's key: stay
        models = nxt or models
    return sorted({k for m in models for k in m.model_fields})


def _key_path(block: Any, loc: tuple, names_a_key: bool) -> list[str]:
    """The keys of an error location in the given block: pydantic adds the union member it tried
    (``int``, ``literal['auto']``, a model's name), which the block does not hold; the last part
    of an unknown or missing key's location is the key itself (``names_a_key``)."""
    path, node = [], block
    for i, part in enumerate(loc):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif not (names_a_key and i == len(loc) - 1):
            continue  # a union member's tag
        path.append(str(part))
    return path


def _problems(key: str, model: type[BaseModel], block: Any) -> list[str]:
    try:
        model.model_validate(block)
    except ValidationError as err:
        found: dict[str, list[str]] = {}
        for e in err.errors():
            names_a_key = e["type"] in ("extra_forbidden", "missing")
            path = _key_path(block, e["loc"], names_a_key)
            name = ".".join([key, *path])
            if e["type"] == "extra_forbidden":
                found.setdefault(name, []).append(f"unknown key (known here: {', '.join(_known_keys(model, path[:-1]))})")
            elif e["type"] == "missing":
                found.setdefault(name, []).append("missing")
            else:
                found.setdefault(name, []).append(e["msg"].removeprefix("Input should be "))
                found[name + " given"] = [repr(e.get("input"))]
        # a mapping given where a union also allows a scalar: report what is wrong inside it
        inner = [n for n in found if not n.endswith(" given") and any(o.startswith(n + ".") for o in found)]
        out = []
        for name, msgs in found.items():
            if name.endswith(" given") or name in inner:
                continue
            if msgs[0] in ("missing",) or msgs[0].startswith("unknown key"):
                out.append(f"{name}: {msgs[0]}")
            else:
                out.append(f"{name}: expected {' or '.join(dict.fromkeys(msgs))}; given {found[name + ' given'][0]}")
        return out
    return []


def validate_parameters(params: Mapping, schemas: Mapping[str, type[BaseModel]], keys: Iterable[str]) -> None:
    """Check the top-level blocks ``keys`` of ``params`` against their ``schemas``, and that
    every top-level key is a known block or runtime key; a :class:`ParameterError` lists all
    that do not fit."""
    problems = [f"{k}: no such parameter block; known: {', '.join(sorted({*schemas, *RUNTIME_KEYS}))}"
                for k in params if k not in schemas and k not in RUNTIME_KEYS]
    for key in sorted(set(keys) & set(schemas)):
        if key not in params:
            problems.append(f"{key}: expected its parameter block (parameters_{key}.yml); it is missing")
        else:
            problems += _problems(key, schemas[key], params[key])
    if problems:
        raise ParameterError("parameters that do not fit their schema:\n" + "\n".join(f"  - {p}" for p in problems))
