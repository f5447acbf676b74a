"""Numbers in response configs and answers: read exactly, bounded to what JSON clients keep, shown plainly.

Decimal, not float: decimal places, steps and formatting are then exact ("0.3" is 0.3, not 0.299...).
"""

import math
import re
from decimal import Decimal

# JSON numbers are read back as IEEE doubles by most clients: integers stay exact up to 2**53 and any decimal
# with at most 15 significant digits survives the round trip, so nothing larger or finer is accepted.
MAX_MAGNITUDE = 10**15
MAX_SIGNIFICANT_DIGITS = 15
_MAX_NUMERIC_STRING_LENGTH = 64
# Float arithmetic in clients (0.1 * 3) lands a hair off the grid; a billionth of a step is not a real answer.
STEP_TOLERANCE = Decimal("1e-9")

_NUMERIC_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


class BadNumber(Exception):
    """Why a value is not an acceptable number; callers turn it into their own error type."""


def parse_decimal(value: object, *, allow_strings: bool) -> Decimal:
    """A JSON number (or, with allow_strings, its text) within the bounds above; raises BadNumber."""
    if isinstance(value, bool):
        raise BadNumber("must be a number, not true/false")
    if isinstance(value, int):
        if abs(value) > MAX_MAGNITUDE:
            raise BadNumber(f"must be between -{MAX_MAGNITUDE} and {MAX_MAGNITUDE}")
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadNumber("must be a finite number")
        number = Decimal(repr(value))
    elif allow_strings and isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMERIC_STRING_LENGTH or not _NUMERIC_STRING.fullmatch(text):
            raise BadNumber("must be a number")
        number = Decimal(text)
    else:
        raise BadNumber("must be a number")
    if abs(number) > MAX_MAGNITUDE:
        raise BadNumber(f"must be between -{MAX_MAGNITUDE} and {MAX_MAGNITUDE}")
    return number


def digits(number: Decimal) -> tuple[int, int]:
    """(significant digits, decimal places) of a finite number, ignoring trailing zeros."""
    if number == 0:
        return 1, 0
    _, figures, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        raise BadNumber("must be a finite number")
    significant = len(figures)
    while figures[significant - 1] == 0:
        significant -= 1
        exponent += 1
    return significant, max(0, -exponent)


def json_number(number: Decimal) -> int | float:
    return int(number) if digits(number)[1] == 0 else float(number)


def as_decimal(number: float) -> Decimal:
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def show(number: Decimal) -> str:
    return "0" if number == 0 else format(number.normalize(), "f")


def on_scale(number: Decimal, scale: tuple[Decimal, Decimal, Decimal]) -> Decimal | None:
    """The grid point of the rating scale that number stands for, or None if it is off the grid or range."""
    scale_min, scale_max, step = scale
    steps = (number - scale_min) / step
    nearest = steps.to_integral_value()
    if abs(steps - nearest) > STEP_TOLERANCE:
        return None
    snapped = scale_min + nearest * step
    return snapped if scale_min <= snapped <= scale_max else None
