"""Readers of the official NAS benchmark file formats (no TensorFlow, no torch, no code execution)."""

from gnnnas.data.formats.errors import FormatError

__all__ = ["FormatError"]
