"""JSON lines: the line protocol for programs, one JSON object per line each way.

A connection of the line codec (:class:`triochat.protocols.text.LineCodec`) switches to it with
``/format json``: commands are read with :func:`parse_json_command`, events written with
:func:`render_json`. :data:`JSON_TYPES` names each event class in it (and
:data:`EVENT_TYPES` is the same table read backwards, for the client).
"""

# The JSON format's notices are worded by the text protocol's phrasebook, and the line codec
# (in .text) speaks both formats: importing .text first keeps the imports of the two packages
# in one order, whichever of them a program imports first.
from .. import text as _text  # noqa: F401  # isort: skip
from ._parse import parse_json_command as parse_json_command
from ._render import EVENT_TYPES as EVENT_TYPES
from ._render import JSON_TYPES as JSON_TYPES
from ._render import json_time as json_time
from ._render import render_json as render_json
