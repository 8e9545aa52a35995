"""triochat: group chat on Trio — an embeddable chat-room library, a server and a client.

The public API is re-exported here; the ``_modules`` behind it are private.
"""

from .client._client import CertificateVerificationFailed as CertificateVerificationFailed
from .client._client import ChatClientError as ChatClientError
from .client._client import ChatConnection as ChatConnection
from .client._client import ConnectionFailed as ConnectionFailed
from .client._client import ConnectionLost as ConnectionLost
from .client._client import NickRefused as NickRefused
from .client._client import ProtocolError as ProtocolError
from .client._client import WireFormat as WireFormat
from .client._client import connect as connect
from .client._decode import parse_event as parse_event
from .core._errors import AuthenticationFailed as AuthenticationFailed
from .core._errors import Banned as Banned
from .core._errors import ChatError as ChatError
from .core._errors import ErrorCode as ErrorCode
from .core._errors import InvalidNick as InvalidNick
from .core._errors import InvalidRoom as InvalidRoom
from .core._errors import NickInUse as NickInUse
from .core._errors import NoSuchNick as NoSuchNick
from .core._errors import NotInRoom as NotInRoom
from .core._errors import NotOperator as NotOperator
from .core._errors import TooManyRooms as TooManyRooms
from .core._events import DEFAULT_ROOM as DEFAULT_ROOM
from .core._events import Action as Action
from .core._events import BanChanged as BanChanged
from .core._events import Event as Event
from .core._events import Joined as Joined
from .core._events import Kicked as Kicked
from .core._events import Left as Left
from .core._events import Message as Message
from .core._events import NickChanged as NickChanged
from .core._events import Notice as Notice
from .core._events import OperatorChanged as OperatorChanged
from .core._events import Private as Private
from .core._events import TopicChanged as TopicChanged
from .core._hub import Hub as Hub
from .core._hub import HubStatistics as HubStatistics
from .core._log import MemoryLog as MemoryLog
from .core._log import RoomLog as RoomLog
from .core._log import RoomLogFactory as RoomLogFactory
from .core._log import RoomState as RoomState
from .core._member import SLOW_CONSUMER as SLOW_CONSUMER
from .core._member import Member as Member
from .core._member import MemberStatistics as MemberStatistics
from .core._room import Room as Room
from .core._room import RoomStatistics as RoomStatistics
from .drivers._endpoints import Endpoint as Endpoint
from .drivers._endpoints import parse_endpoint as parse_endpoint
from .drivers._listeners import ListenFailed as ListenFailed
from .drivers._tls import TLSConfigError as TLSConfigError
from .server._config import ServerConfig as ServerConfig
from .server._server import ChatServer as ChatServer
from .server._server import ServerStatistics as ServerStatistics
from .server._server import serve_tcp as serve_tcp

__version__ = "0.1.0"
