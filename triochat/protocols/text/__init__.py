"""The line protocols: text for people (what ``nc`` shows) and JSON lines for programs.

A connection starts in the text format; ``/format json`` switches both directions to one JSON
object per line (and ``/format text`` back), so both live in one codec, :class:`LineCodec`.
"""

from ._codec import LineCodec as LineCodec
