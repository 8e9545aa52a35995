"""triochat: group chat on Trio — an embeddable chat-room library, a TCP server and a client.

The public API is re-exported here; the ``_modules`` behind it are private.
"""

from ._client import ChatClientError as ChatClientError
from ._client import ChatConnection as ChatConnection
from ._client import ConnectionFailed as ConnectionFailed
from ._client import ConnectionLost as ConnectionLost
from ._client import connect as connect
from ._config import ServerConfig as ServerConfig
from ._events import Action as Action
from ._events import Event as Event
from ._events import Joined as Joined
from ._events import Left as Left
from ._events import Message as Message
from ._events import NickChanged as NickChanged
from ._events import Notice as Notice
from ._hub import DEFAULT_ROOM as DEFAULT_ROOM
from ._hub import ChatError as ChatError
from ._hub import Hub as Hub
from ._hub import HubStatistics as HubStatistics
from ._hub import InvalidNick as InvalidNick
from ._hub import NickInUse as NickInUse
from ._hub import NotInRoom as NotInRoom
from ._member import SLOW_CONSUMER as SLOW_CONSUMER
from ._member import Member as Member
from ._member import MemberStatistics as MemberStatistics
from ._room import Room as Room
from ._room import RoomStatistics as RoomStatistics
from ._server import ChatServer as ChatServer
from ._server import ServerStatistics as ServerStatistics
from ._server import serve_tcp as serve_tcp

__version__ = "0.1.0"
