"""Sinks: aligned text and JSON lines. They know nothing about any tool.

What only some runs need is imported on first use, so a monitor printing
text to stdout does not pay for it at start-up: files.py (opening an --output
file safely), rotation.py (built-in rotation), jsonlines.py (--json).
"""

from .escape import escape, fit
from .sinks import Output, TextSink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .files import OutputError, open_output
    from .jsonlines import JsonSink
    from .rotation import Rotation

_LAZY = {"OutputError": "files", "open_output": "files", "Rotation": "rotation", "JsonSink": "jsonlines"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(module, globals(), None, (name,), 1), name)  # lazy: see above
    globals()[name] = value
    return value


__all__ = ["JsonSink", "Output", "OutputError", "Rotation", "TextSink", "escape", "fit", "open_output"]
