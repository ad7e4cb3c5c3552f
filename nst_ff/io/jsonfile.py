"""JSON that every parser reads: Python's json writes NaN and Infinity, which are not JSON; they become null."""

import json
import math
import os

from nst_ff.io.images import write_atomically


def finite(value):
    """`value` with every non-finite float inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def dumps(value, **kwargs) -> str:
    return json.dumps(finite(value), allow_nan=False, **kwargs)


def write(path: str | os.PathLike, value) -> None:
    """An indented JSON file, written aside then renamed so that a reader never sees half of it."""
    text = dumps(value, indent=2) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))
