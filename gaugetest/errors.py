"""Exceptions that the command line turns into exit codes.

``InputError`` (and its subclass ``UsageError``) means the user gave something
gaugetest cannot use: the CLI prints its one-line message and exits 2.  Any
other exception is an internal error (exit 1).
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad input data: names the source, the field (a JSON path) and what was expected.

    Parameters
    ----------
    source : str
        The file path (or ``"<null dict>"`` for in-memory input).
    field : str
        JSON path of the offending value, e.g. ``pair_results[3].families.q_proj.cos``.
    expected : str
        What a valid value looks like.
    got : str, optional
        A short description of what was found.
    """

    def __init__(self, source: str, field: str, expected: str, got: str | None = None):
        self.source = source
        self.field = field
        self.expected = expected
        self.got = got
        msg = f"{source}: {field}: expected {expected}"
        if got is not None:
            msg += f", got {got}"
        super().__init__(msg)


class UsageError(ValueError):
    """A bad setting (an option value), reported like an input error."""

    def __init__(self, option: str, expected: str, got: object = None):
        self.option = option
        self.expected = expected
        msg = f"{option}: expected {expected}"
        if got is not None:
            msg += f", got {got!r}"
        super().__init__(msg)


def describe(value: object) -> str:
    """A short, safe description of a JSON value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        s = value if len(value) <= 20 else value[:17] + "..."
        return f"string {s!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
