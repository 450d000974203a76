"""What a route returns, and typed reads of JSON request fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

from .. import errors


@dataclass
class Reply:
    """A JSON answer."""

    status: int
    body: object
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass
class StreamReply:
    """A server-sent-event answer: `run(emit)` produces the events; `emit(data)` sends one
    `data:` event and returns False once the client has gone (generation then stops)."""

    run: Callable[[Callable[[str], bool]], None]
    headers: Dict[str, str] = field(default_factory=dict)


def parse_object(style: str, body: bytes) -> dict:
    """The request body as a JSON object, or a protocol-shaped 4xx saying why not."""
    try:
        value = json.loads(body.decode("utf-8") if body else "")
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.bad_request(style, f"invalid JSON body: {e}") from e
    if not isinstance(value, dict):
        raise errors.bad_request(style, "invalid JSON body: expected an object")
    return value


def opt_int(style: str, obj: dict, key: str, minimum: Optional[int] = None) -> Optional[int]:
    """An optional integer field (`minimum` inclusive)."""
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise errors.bad_request(style, f"`{key}` must be an integer, not {json.dumps(v)}")
    if minimum is not None and v < minimum:
        raise errors.bad_request(style, f"`{key}` must be at least {minimum}, got {v}")
    return v


def opt_float(style: str, obj: dict, key: str) -> Optional[float]:
    """An optional number field."""
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise errors.bad_request(style, f"`{key}` must be a number, not {json.dumps(v)}")
    return float(v)


def opt_bool(style: str, obj: dict, key: str, default: bool = False) -> bool:
    """An optional boolean field."""
    v = obj.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise errors.bad_request(style, f"`{key}` must be true or false, not {json.dumps(v)}")
    return v


def opt_str(style: str, obj: dict, key: str) -> Optional[str]:
    """An optional string field."""
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise errors.bad_request(style, f"`{key}` must be a string, not {json.dumps(v)}")
    return v


def sse(value: object) -> str:
    """The data of one event: compact JSON."""
    return json.dumps(value, separators=(",", ":"))
