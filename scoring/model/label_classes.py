"""A realized label (feedback) read as one of the model's two classes, and the text it is kept as.

A model's classes are its manifest's ``postprocess.labels``, (negative, positive), the two
values of the training label column (``0``/``1``, ``False``/``True``, ``"legit"``/``"fraud"``).
Feedback arrives in whatever spelling a client has at hand; it is read here, once, so that
the label log holds each class in one form (:func:`class_text`, the text the prediction log
writes its ``label`` as) and drift and retraining, which compare against that text, count it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

_TRUE_FALSE = {"true": True, "false": False}


def class_text(value: Any) -> str:
    """How the label and prediction logs write a class: its text (``1``, ``True``, ``fraud``)."""
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _by_number(number: float, classes: Sequence[Any]) -> Any | None:
    """The class equal to ``number``; else, for classes that are not numbers, 0/1 by position."""
    for cls in classes:
        if (_is_number(cls) or isinstance(cls, bool)) and cls == number:
            return cls
    if any(_is_number(cls) for cls in classes):
        return None  # numeric classes are named by their own values only (say 1 and 2)
    if number in (0, 1):
        return classes[int(number)]
    return None


def _by_text(text: str, classes: Sequence[Any]) -> Any | None:
    for cls in classes:
        if text == class_text(cls):
            return cls
    folded = text.strip().casefold()
    for cls in classes:
        if isinstance(cls, str) and folded == cls.strip().casefold():
            return cls
    if folded in _TRUE_FALSE:
        return classes[int(_TRUE_FALSE[folded])]
    try:
        number = float(folded)
    except ValueError:
        return None
    return _by_number(number, classes) if math.isfinite(number) else None


def class_of(value: Any, classes: Sequence[Any]) -> Any | None:
    """The class of ``classes`` (negative, positive) that ``value`` names, or None if none.

    A class is named by its own value, in any type that equals it (``1``, ``1.0``, ``"1"``;
    names regardless of case); ``true``/``false`` name the positive/negative class, as do
    ``1``/``0`` when the classes are not numbers themselves. Anything else names no class.
    """
    if isinstance(value, bool):
        for cls in classes:
            if isinstance(cls, bool) and cls is value:
                return cls
        return classes[int(value)]
    if _is_number(value):
        return _by_number(value, classes) if math.isfinite(value) else None
    if isinstance(value, str):
        return _by_text(value, classes)
    return None
