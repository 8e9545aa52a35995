"""The web chat: an HTTP front door (the page, the WebSocket handshake) and the WebSocket codec.

Needs the ``web`` extra (wsproto, with h11): ``pip install 'triochat[web]'``.
"""

from ._codec import WebSocketCodec as WebSocketCodec
from ._http import Answer as Answer
from ._http import BadRequest as BadRequest
from ._http import Page as Page
from ._http import RequestReader as RequestReader
from ._http import answer as answer
from ._http import response as response
