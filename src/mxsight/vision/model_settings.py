"""The inference settings of a model card (``<stem>.json`` beside ``<stem>.keras``), checked where
they are read: one pydantic schema, and a loader whose error is one line naming the file, each bad
key, the value given and what is allowed. Other keys of a card (evaluations, provenance) are ignored."""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mxsight.notions import NOTIONS

MIN_WORKING_SIZE_PX = 64
MAX_WORKING_SIZE_PX = 4096
DEFAULT_SEGMENTERS = ("network", "checked", "classical")
PROBABILITY = "a number strictly between 0 and 1"
LONGEST_VALUE = 60  # characters of a given value quoted in an error

Probability = Annotated[float, Field(strict=True, gt=0.0, lt=1.0)]
Notion = Literal[NOTIONS]


class ModelSettings(BaseModel):
    """How ``NetworkSegmenter`` runs a model, as its card records them; defaults are the segmenter's.

    ``working_size_px`` is the longer side, in pixels, a frame is resized to for the coarse pass (the
    pass that finds the loop and places the refinement window); each side is then rounded to a
    multiple of the network's stride (32 for the shipped network). From 64 px, two strides: the
    deepest layer still sees more than one cell and a loop a tenth of the field wide covers some
    6 pixels; below, the coarse pass sees next to nothing. Up to 4096 px, the width of the largest
    on-axis cameras' frames: beyond a frame's own size the resize only upsamples it, adding no
    detail while the network's memory grows with the square."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = Field("0", strict=True, description="a string")
    working_size_px: int = Field(
        320, strict=True, ge=MIN_WORKING_SIZE_PX, le=MAX_WORKING_SIZE_PX,
        description=f"an integer from {MIN_WORKING_SIZE_PX} to {MAX_WORKING_SIZE_PX}",
    )
    threshold: Probability = Field(0.5, description=PROBABILITY)
    thresholds: dict[Notion, Probability] = Field(default_factory=dict, description="a mapping from notion names to numbers strictly between 0 and 1")
    click_threshold: Probability = Field(0.2, description=PROBABILITY)
    refine: bool = Field(True, strict=True, description="true or false")
    tracking: bool = Field(True, strict=True, description="true or false")
    default_segmenter: Literal[DEFAULT_SEGMENTERS] = Field("network", description=f"one of {', '.join(DEFAULT_SEGMENTERS)}")


def validate_settings(settings: Any, source: str) -> ModelSettings:
    """``settings`` (a card's JSON object, or keyword overrides) checked against :class:`ModelSettings`;
    a ``ValueError`` of one line, ``"<source>: <key> must be <allowed>, got <given>; ..."`` (the form of :mod:`mxsight.file_schema`), otherwise."""
    try:
        return ModelSettings.model_validate(settings)
    except ValidationError as error:
        raise ValueError(f"{source}: {'; '.join(_problems(error))}") from None


def read_model_card(card_path: Path | str) -> ModelSettings | None:
    """The settings recorded in the card ``card_path``, validated; None when there is no such file."""
    card_path = Path(card_path)
    if not card_path.exists():
        return None
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{card_path}: not a readable JSON file ({error})") from None
    return validate_settings(card, str(card_path))


def _problems(error: ValidationError) -> list[str]:
    """One phrase per bad key from pydantic's errors; unknown keys of a mapping in one phrase."""
    problems: list[str] = []
    unknown: dict[str, list[Any]] = {}
    for item in error.errors():
        loc, given = item["loc"], item["input"]
        if not loc:
            problems.append(f"the settings must be a JSON object, got {_quoted(given)}")
        elif loc[-1] == "[key]":
            unknown.setdefault(str(loc[0]), []).append(loc[1])
        elif len(loc) == 1:
            allowed = ModelSettings.model_fields[str(loc[0])].description
            problems.append(f"{loc[0]} must be {allowed}, got {_quoted(given)}")
        else:  # a value of a mapping: thresholds is the one mapping
            problems.append(f"{loc[0]}[{loc[1]!r}] must be {PROBABILITY}, got {_quoted(given)}")
    for key, names in unknown.items():
        problems.append(f"{key} names unknown notions {sorted(map(str, names))} (known: {', '.join(NOTIONS)})")
    return problems


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= LONGEST_VALUE else text[: LONGEST_VALUE - 3] + "..."

