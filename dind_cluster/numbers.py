"""Pure: the one parser for every numeric setting (counts, IDs, ports, prefix lengths, seconds).

Only ASCII digits count: str.isdigit() and int() also take '²' or Arabic-Indic digits, and int()
refuses texts of more than 4300 digits with a ValueError, so both are checked here first.
"""
from __future__ import annotations

import re

from .errors import ConfigError

MAX_DIGITS = 18
_INT = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_int(variable: str, text: str, low: int, high: int, allowed: str, what: str = "a number") -> int:
    """`text` as an integer in low..high, or a ConfigError naming `variable`."""
    text = (text or "").strip()
    if not _INT.fullmatch(text) or len(text) > MAX_DIGITS or not low <= int(text) <= high:
        raise ConfigError(variable, f"'{clip(text)}' is not {what}", allowed)
    return int(text)


def parse_seconds(variable: str, text: str, high: float, allowed: str) -> float:
    """A positive number of seconds (decimals allowed), at most `high`."""
    text = (text or "").strip()
    if not _DECIMAL.fullmatch(text) or len(text) > MAX_DIGITS or not 0 < float(text) <= high:
        raise ConfigError(variable, f"'{clip(text)}' is not a number of seconds", allowed)
    return float(text)


def clip(text: str, width: int = 40) -> str:
    """A value short enough to quote in a one-line error."""
    return text if len(text) <= width else text[:width] + f"… ({len(text)} characters)"


def is_ascii_number(text: str) -> bool:
    return bool(_INT.fullmatch(text)) and len(text) <= MAX_DIGITS
