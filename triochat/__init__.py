"""triochat: group chat on Trio — an embeddable chat-room library, a server and a client.

The public API is re-exported here; the ``_modules`` behind it are private.
"""

from ._client import CertificateVerificationFailed as CertificateVerificationFailed
from ._client import ChatClientError as ChatClientError
from ._client import ChatConnection as ChatConnection
from ._client import ConnectionFailed as ConnectionFailed
from ._client import ConnectionLost as ConnectionLost
from ._client import NickRefused as NickRefused
from ._client import ProtocolError as ProtocolError
from ._client import WireFormat as WireFormat
from ._client import connect as connect
from ._client_events import parse_event as parse_event
from ._config import ServerConfig as ServerConfig
from ._endpoints import Endpoint as Endpoint
from ._endpoints import parse_endpoint as parse_endpoint
from ._errors import AuthenticationFailed as AuthenticationFailed
from ._errors import Banned as Banned
from ._errors import ChatError as ChatError
from ._errors import InvalidNick as InvalidNick
from ._errors import InvalidRoom as InvalidRoom
from ._errors import NickInUse as NickInUse
from ._errors import NoSuchNick as NoSuchNick
from ._errors import NotInRoom as NotInRoom
from ._errors import NotOperator as NotOperator
from ._errors import TooManyRooms as TooManyRooms
from ._events import DEFAULT_ROOM as DEFAULT_ROOM
from ._events import Action as Action
from ._events import BanChanged as BanChanged
from ._events import Event as Event
from ._events import Joined as Joined
from ._events import Kicked as Kicked
from ._events import Left as Left
from ._events import Message as Message
from ._events import NickChanged as NickChanged
from ._events import Notice as Notice
from ._events import OperatorChanged as OperatorChanged
from ._events import Private as Private
from ._events import TopicChanged as TopicChanged
from ._hub import Hub as Hub
from ._hub import HubStatistics as HubStatistics
from ._listeners import ListenFailed as ListenFailed
from ._member import SLOW_CONSUMER as SLOW_CONSUMER
from ._member import Member as Member
from ._member import MemberStatistics as MemberStatistics
from ._room import Room as Room
from ._room import RoomStatistics as RoomStatistics
from ._server import ChatServer as ChatServer
from ._server import ServerStatistics as ServerStatistics
from ._server import serve_tcp as serve_tcp
from ._tls import TLSConfigError as TLSConfigError

__version__ = "0.1.0"
