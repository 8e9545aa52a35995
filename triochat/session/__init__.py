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
from ._input import Input as Input
from ._input import InputError as InputError
from ._input import InputProblem as InputProblem
from ._input import Reply as Reply
from ._reasons import CloseReason as CloseReason
