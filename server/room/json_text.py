"""JSON text as every message is sent: compact, UTF-8 as is; and numbers without the encoder per student."""

from __future__ import annotations

import json
import math
from typing import Any

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
dumps = _encoder.encode


def scalar(value: Any) -> str:
    """`dumps(value)`; a number, a boolean or None without the encoder's machinery (per student, per reveal)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return dumps(value)
