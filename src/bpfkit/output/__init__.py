"""Sinks: aligned text and JSON lines. They know nothing about any tool."""

from .escape import escape
from .sinks import JsonSink, Output, TextSink

__all__ = ["JsonSink", "Output", "TextSink", "escape"]
