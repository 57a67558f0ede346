"""One line for any error: what the command line, the service and the clients show."""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(exc: BaseException, where: str = "") -> str:
    """An error as one line of text.

    A validation error (anything with an ``errors()`` method: pydantic, FastAPI) becomes
    ``loc: message; loc: message`` (dotted locations; ``where`` stands for a problem of the
    whole object, which has none); any other error its message with runs of whitespace (line
    breaks included) turned into single spaces.

    Parameters
    ----------
    exc : BaseException
    where : str
        Location named for a problem without one (e.g. ``"manifest"``); empty: the message
        alone.
    """
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for e in errors():
            loc = ".".join(str(p) for p in e.get("loc", ())) or where
            msg = str(e.get("msg", ""))
            parts.append(f"{loc}: {msg}" if loc else msg)
        if parts:
            return "; ".join(parts)
    return " ".join(str(exc).split())
