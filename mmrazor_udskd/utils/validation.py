"""Validation of config values: numbers, choices, names and class counts.

Every function inspects its arguments and raises, or returns the checked
value, and names the config field in its message, so a bad config fails
*before* anything is built, with an error that says what to fix. This is
the one validator of numbers and choices in the package; booleans are never
numbers here (``tau=True`` is refused).
"""
import keyword
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
from torch import nn

__all__ = [
    'is_number', 'check_positive', 'check_loss_weight', 'check_choice',
    'check_trainable', 'check_student_names', 'check_predict_with',
    'head_num_classes', 'check_num_classes_agree', 'model_num_classes'
]


def is_number(value: Any) -> bool:
    """True for ``int``/``float`` (and NumPy scalars), never for ``bool``.

    Args:
        value (Any): Any value.

    Returns:
        bool: Whether ``value`` is a real number that is not a bool.
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def check_positive(value: Any, field: str) -> float:
    """A finite number ``> 0`` (e.g. the temperature ``tau``).

    Args:
        value (Any): The configured value.
        field (str): Its config path, for the message (``'model.tau'``).

    Returns:
        float: ``value`` as a float.

    Raises:
        ValueError: If ``value`` is not a finite number ``> 0``.
    """
    if not (is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f'`{field}` must be a finite number > 0, got '
                         f'{value!r}')
    return float(value)


def check_loss_weight(value: Any, field: str) -> float:
    """A finite loss weight ``>= 0`` (``alpha``, ``beta``, ``gamma``).

    Args:
        value (Any): The configured weight.
        field (str): Its config path, for the message.

    Returns:
        float: ``value`` as a float.

    Raises:
        ValueError: If ``value`` is negative, NaN, infinite or not a number.
    """
    if not (is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f'`{field}` must be a finite number >= 0, got '
                         f'{value!r}')
    return float(value)



def check_choice(value: Any, allowed: Sequence[Any], field: str) -> Any:
    """One of a fixed set of values (e.g. ``reduction``, ``peer_mode``).

    Args:
        value (Any): The configured value.
        allowed (Sequence[Any]): The accepted values.
        field (str): Its config path, for the message.

    Returns:
        Any: ``value``.

    Raises:
        ValueError: If ``value`` is not in ``allowed``.
    """
    if value not in allowed:
        raise ValueError(f'`{field}` must be one of {tuple(allowed)}, got '
                         f'{value!r}')
    return value


def check_trainable(weights: Mapping[str, Mapping[str, float]],
                    field: str = 'model') -> None:
    """Every student has at least one non-zero loss weight.

    Args:
        weights (Mapping[str, Mapping[str, float]]): Per student name, its
            resolved ``alpha``/``beta``/``gamma``.
        field (str): The algorithm's config path. Defaults to ``'model'``.

    Raises:
        ValueError: If some student's weights are all zero (its loss would
            be identically 0 and it would never train).
    """
    for name, own in weights.items():
        if all(float(v) == 0.0 for v in own.values()):
            keys = ', '.join(f'{k}={v}' for k, v in own.items())
            raise ValueError(
                f'student {name!r}: all its loss weights are 0 ({keys}, from '
                f'`{field}.alpha/beta/gamma` and '
                f'`{field}.student_loss_weights.{name}`), so its loss is '
                'always 0 and it would never train; give alpha, beta or '
                'gamma a positive value')


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
def check_student_names(names: Sequence[Any],
                        reserved: Iterable[str] = ('teacher', 'ensemble'),
                        field: str = 'model.students') -> List[str]:
    """At least two distinct student names that are Python identifiers.

    Names become child-module names, loss keys (``<name>.loss``), metric
    prefixes (``<name>/accuracy/top1``) and exported file names
    (``<name>.pth``), so they must be identifiers, must not repeat (also not
    up to letter case, which would clash on case-insensitive file systems)
    and must not be one of ``reserved`` (the ``teacher``/``ensemble`` metric
    prefixes of the multi-model validation loop).

    Args:
        names (Sequence[Any]): The student names in config order.
        reserved (Iterable[str]): Names taken by something else. Defaults
            to ``('teacher', 'ensemble')``.
        field (str): The config path. Defaults to ``'model.students'``.

    Returns:
        List[str]: ``names`` as a list.

    Raises:
        ValueError: On fewer than two names, a non-identifier, a keyword, a
            duplicate or a reserved name.
    """
    names = list(names)
    if len(names) < 2:
        raise ValueError(f'`{field}` needs at least two students (a dict '
                         f'name -> model), got {len(names)}: {names}')
    seen: Dict[str, str] = {}
    reserved = {r.lower() for r in reserved}
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or \
                keyword.iskeyword(name):
            raise ValueError(f'student name {name!r} in `{field}` must be a '
                             'Python identifier (letters, digits, _; not a '
                             'keyword)')
        if name.lower() in reserved:
            raise ValueError(f'student name {name!r} in `{field}` collides '
                             f'with a reserved name ({sorted(reserved)}: the '
                             'teacher and the metric prefixes of the '
                             'validation loop); rename it')
        if name.lower() in seen:
            raise ValueError(f'duplicate student name {name!r} in `{field}` '
                             f'(same as {seen[name.lower()]!r} up to letter '
                             'case); every student needs its own name')
        seen[name.lower()] = name
    return names


def check_predict_with(predict_with: Optional[str], names: Sequence[str],
                       field: str = 'model.predict_with') -> str:
    """The model that ``mode='predict'``/``'tensor'`` uses.

    Args:
        predict_with (str, optional): The configured name; None takes the
            first of ``names``.
        names (Sequence[str]): The students' (or branches') names.
        field (str): Its config path. Defaults to ``'model.predict_with'``.

    Returns:
        str: The chosen name.

    Raises:
        ValueError: If ``predict_with`` is not one of ``names``.
    """
    if predict_with is None:
        return names[0]
    if predict_with not in names:
        raise ValueError(f'`{field}`={predict_with!r} is not one of the '
                         f'students {list(names)}')
    return predict_with


def head_num_classes(model: nn.Module) -> Optional[int]:
    """``model.head.num_classes`` of a classifier, or None if it has none.

    Args:
        model (nn.Module): A classifier (e.g. mmpretrain's
            ``ImageClassifier``).

    Returns:
        int | None: The class count of its head.
    """
    value = getattr(getattr(model, 'head', None), 'num_classes', None)
    return int(value) if is_number(value) else None


def check_num_classes_agree(num_classes: Mapping[str, Optional[int]],
                            field: str = 'model') -> Optional[int]:
    """Teacher and students predict the same number of classes.

    Args:
        num_classes (Mapping[str, int | None]): Per model (``'teacher'``,
            ``'students.<name>'``), its head's class count; None = unknown.
        field (str): The algorithm's config path. Defaults to ``'model'``.

    Returns:
        int | None: The common class count (None if none is known).

    Raises:
        ValueError: If two known counts differ.
    """
    known = {k: v for k, v in num_classes.items() if v is not None}
    if len(set(known.values())) > 1:
        detail = ', '.join(f'`{field}.{k}.head.num_classes`={v}'
                           for k, v in known.items())
        raise ValueError(f'teacher and students disagree on num_classes: '
                         f'{detail}; every head must predict the classes of '
                         'the data set')
    return next(iter(known.values()), None)


def model_num_classes(model: nn.Module) -> Optional[int]:
    """The smallest class count over the classification heads in ``model``.

    Looks at every sub-module whose class name ends with ``Head`` and that
    has an integer ``num_classes`` (mmpretrain's heads), so it works for
    plain classifiers, MMRazor's distillers and ``MultiStudentDistill``
    alike. A label is valid when every head can predict it, hence the
    minimum.

    Args:
        model (nn.Module): The (possibly DDP-wrapped) model.

    Returns:
        int | None: The class count, or None if no head declares one.
    """
    counts = [int(m.num_classes) for m in model.modules()
              if type(m).__name__.endswith('Head')
              and is_number(getattr(m, 'num_classes', None))]
    return min(counts) if counts else None
