"""Errors in each protocol's own JSON shape and status codes (as the reference server)."""

from __future__ import annotations

from typing import Dict, Iterable

from .pipelines import BadParameter, InputTooLong, ModelError

OPENAI, TGI, TEI, KSERVE = "openai", "tgi", "tei", "kserve"


class ApiError(Exception):
    """An error answer: status, message, machine-readable code, body style."""

    def __init__(self, status: int, message: str, code: str, style: str):
        super().__init__(message)
        self.status, self.message, self.code, self.style = status, message, code, style

    def body(self) -> Dict[str, object]:
        """The JSON body in the protocol's shape."""
        if self.style == OPENAI:
            kind = "invalid_request_error" if self.status < 500 else "server_error"
            return {"error": {"message": self.message, "type": kind, "param": None,
                              "code": self.code}}
        if self.style in (TGI, TEI):
            return {"error": self.message, "error_type": self.code}
        return {"error": self.message}


def bad_request(style: str, message: str) -> ApiError:
    """A bad body or parameter: 422 for TGI and TEI, 400 otherwise."""
    status = 422 if style in (TGI, TEI) else 400
    return ApiError(status, message, "invalid_request_error", style)


def unknown_model(style: str, name: str, served: Iterable[str]) -> ApiError:
    """404 naming the models this server serves."""
    names = ", ".join(f"`{n}`" for n in served) or "none"
    return ApiError(404, f"The model `{name}` does not exist; served models: {names}.",
                    "model_not_found", style)


def loading(style: str) -> ApiError:
    """503 while models load."""
    return ApiError(503, "models are still loading", "loading", style)


def internal(style: str, message: str) -> ApiError:
    """500: the model failed."""
    return ApiError(500, message, "internal_error", style)


def from_model(style: str, e: Exception) -> ApiError:
    """Maps a model error: too long is 413 (TEI), 422 (TGI) or 400; bad input 422/400."""
    if isinstance(e, InputTooLong):
        status = {TEI: 413, TGI: 422}.get(style, 400)
        return ApiError(status, str(e), "context_length_exceeded", style)
    if isinstance(e, (BadParameter, ModelError)):
        return bad_request(style, str(e))
    return internal(style, f"{type(e).__name__}: {e}")
