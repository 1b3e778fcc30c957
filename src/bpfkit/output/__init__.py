"""Sinks: aligned text and JSON lines. They know nothing about any tool."""

from .escape import escape, fit
from .files import OutputError, open_output
from .rotation import Rotation
from .sinks import JsonSink, Output, TextSink

__all__ = ["JsonSink", "Output", "OutputError", "Rotation", "TextSink", "escape", "fit", "open_output"]
