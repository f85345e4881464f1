"""What the project's TOML settings files share: strict pydantic tables, and one-line errors.

Each file kind has one pydantic schema (:mod:`mxsight.beamline_file`, :mod:`mxsight.devices.zoom_file`)
built from :class:`Table`: unknown keys are errors, a string is never taken for a number or a boolean
(an integer is taken for a float). :func:`validated` turns pydantic's ``ValidationError`` into one
``ValueError`` line that names the file, the table and key, what was given and what is allowed, e.g.
``beamline.toml: [epics] frame_timeout_s must be greater than 0, got -1``, so a wrong setting is
reported where it enters, before any device is built.
"""

from __future__ import annotations

import difflib
import typing
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt, StrictStr, ValidationError

__all__ = ["FiniteFloat", "NonEmptyString", "PositiveFloat", "StrictBool", "StrictInt", "Table", "describe", "validated"]


class Table(BaseModel):
    """A TOML table: its keys are the fields, and any other key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # a number: int or float, not bool/str
PositiveFloat = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
NonEmptyString = Annotated[StrictStr, Field(min_length=1)]

Model = TypeVar("Model", bound=BaseModel)

# What a value must be, by pydantic error type, where its own message reads awkwardly in a settings file.
_MUST_BE = {
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
}
_TABLE_TYPES = ("dict_type", "model_type", "model_attributes_type")


def validated(model: type[Model], table: dict, source: str, *, tables: bool = True, context: dict | None = None) -> Model:
    """``table`` as ``model``; a ValueError of one line, prefixed by ``source``, when it is not one.

    ``tables``: the top-level keys are TOML tables (a whole file), named ``[table]``; False: ``table``
    is one table's keys, and ``source`` names that table (``"file: [alignment]"``)."""
    try:
        return model.model_validate(table, context=context)
    except ValidationError as error:
        raise ValueError(f"{source}{': ' if tables else ' '}{describe(error, model, tables=tables)}") from None


def describe(error: ValidationError, model: type[BaseModel], *, tables: bool = True) -> str:
    """Every problem of ``error`` as ``[table] key must ..., got ...``, joined with "; ", in the order
    found; missing and unknown keys are gathered per table."""
    found: dict[tuple, list] = {}
    for number, entry in enumerate(error.errors(include_url=False)):
        loc, kind = tuple(entry["loc"]), entry["type"]
        if kind in ("missing", "extra_forbidden") and loc and isinstance(loc[-1], str):
            found.setdefault((kind, loc[:-1]), []).append(loc[-1])
        else:
            found[("problem", number)] = [f"{_place(loc, kind, tables)} {_problem(entry)}".strip()]
    text = []
    for (kind, where), items in found.items():
        if kind == "missing":
            text.append(_missing(where, items, tables))
        elif kind == "extra_forbidden":
            text.append(_unknown(where, items, model, tables))
        else:
            text += items
    return "; ".join(text)


def _table_name(path: tuple) -> str:
    return f"[{'.'.join(str(part) for part in path)}]" if path else ""


def _place(loc: tuple, kind: str, tables: bool) -> str:
    """Where a value is: ``[epics] frame_shape[0]``, ``[levels] key 'x'``, ``[epics]`` (a table)."""
    if loc and loc[-1] == "[key]":
        return f"{_table_name(loc[:-2])} key {loc[-2]!r}".strip()
    index = len(loc)
    while index and isinstance(loc[index - 1], int):
        index -= 1
    path, indices = loc[:index], "".join(f"[{part}]" for part in loc[index:])
    if kind in _TABLE_TYPES or (tables and len(path) == 1):
        return _table_name(path) + indices
    return f"{_table_name(path[:-1])} {path[-1]}{indices}".strip() if path else indices


def _problem(entry: dict) -> str:
    """What is wrong with one value: what it must be, and what it was."""
    kind, ctx = entry["type"], entry.get("ctx") or {}
    if kind == "value_error":  # our own validators' messages say what was given
        return str(ctx.get("error", entry["msg"]))
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        count = ctx.get("min_length" if kind == "too_short" else "max_length")
        must = f"must have {bound} {count} item{'s' if count != 1 else ''}"
    elif kind == "string_too_short":
        must = "must not be empty"
    elif kind in ("greater_than_equal", "less_than_equal"):
        must = f"must be at least {ctx['ge']}" if kind == "greater_than_equal" else f"must be at most {ctx['le']}"
    else:
        must = _MUST_BE.get(kind) or entry["msg"].replace("Input should be", "must be")
    return f"{must}, got {entry.get('input')!r}"


def _missing(table: tuple, keys: list[str], tables: bool) -> str:
    if tables and not table:
        return f"needs {', '.join(f'a [{key}] table' for key in keys)}"
    return f"{_table_name(table)} needs {', '.join(keys)}".strip()


def _unknown(table: tuple, keys: list[str], model: type[BaseModel], tables: bool) -> str:
    """``[table] has unknown key 'x' (did you mean 'y'?)``, or the keys allowed when none is close."""
    allowed = _allowed_keys(model, table)
    what = "table" if tables and not table else "key"
    named = []
    for key in keys:
        close = difflib.get_close_matches(key, allowed, n=1)
        name = f"[{key}]" if what == "table" else repr(key)
        named.append(f"{name} (did you mean {close[0]!r}?)" if close else name)
    text = f"{_table_name(table)} has unknown {what}{'s' if len(keys) > 1 else ''} {', '.join(named)}".strip()
    if any(not difflib.get_close_matches(key, allowed, n=1) for key in keys):
        text += f" (allowed {what}s: {', '.join(allowed)})"
    return text


def _allowed_keys(model: type[BaseModel], path: tuple) -> list[str]:
    """The keys the table at ``path`` (a location in ``model``'s input) may hold."""
    current: type[BaseModel] | None = model
    expect_key = False
    for part in path:
        if expect_key or current is None:
            expect_key = False
            continue
        field = current.model_fields.get(str(part))
        current, expect_key = _inner_model(field.annotation) if field is not None else (None, False)
    return sorted(current.model_fields) if current is not None else []


def _inner_model(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The table model an annotation holds, and whether a key (a dict of tables) comes before it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for argument in typing.get_args(annotation):
        inner, _ = _inner_model(argument)
        if inner is not None:
            return inner, typing.get_origin(annotation) is dict
    return None, False
