"""The session: what a client may do, whatever protocol it speaks.

Codecs turn what a client sends into these commands; the session carries them out on the hub.
"""

from ._commands import Admin as Admin
from ._commands import Ban as Ban
from ._commands import Command as Command
from ._commands import Format as Format
from ._commands import Help as Help
from ._commands import History as History
from ._commands import Join as Join
from ._commands import Kick as Kick
from ._commands import Me as Me
from ._commands import Msg as Msg
from ._commands import Nick as Nick
from ._commands import Op as Op
from ._commands import Part as Part
from ._commands import Pass as Pass
from ._commands import Quit as Quit
from ._commands import Register as Register
from ._commands import Rooms as Rooms
from ._commands import Say as Say
from ._commands import Switch as Switch
from ._commands import Topic as Topic
from ._commands import Unknown as Unknown
from ._commands import Unregister as Unregister
from ._commands import Who as Who
from ._front_commands import Authenticate as Authenticate
from ._front_commands import ChannelMode as ChannelMode
from ._front_commands import ChatHistory as ChatHistory
from ._front_commands import ChatHistoryTargets as ChatHistoryTargets
from ._front_commands import Echo as Echo
from ._front_commands import JoinRoom as JoinRoom
from ._front_commands import KickUser as KickUser
from ._front_commands import ListRooms as ListRooms
from ._front_commands import ModeQuery as ModeQuery
from ._front_commands import Names as Names
from ._front_commands import PartAll as PartAll
from ._front_commands import PartRoom as PartRoom
from ._front_commands import Rename as Rename
from ._front_commands import SayTo as SayTo
from ._front_commands import SetAway as SetAway
from ._front_commands import SignOn as SignOn
from ._front_commands import TopicOf as TopicOf
from ._front_commands import Whois as Whois
from ._front_commands import WhoQuery as WhoQuery
from ._input import Input as Input
from ._input import InputError as InputError
from ._input import InputProblem as InputProblem
from ._input import Reply as Reply
from ._policy import SessionPolicy as SessionPolicy
from ._reasons import CloseReason as CloseReason
from ._replies import ReplyKind as ReplyKind
