"""Sans-IO wire protocols: bytes in, commands out; events out, bytes in. No trio.

Each protocol is a :class:`Codec`; the connection driver runs any of them.
"""

from ..session._input import Input as Input
from ..session._input import InputError as InputError
from ..session._input import InputProblem as InputProblem
from ..session._input import Reply as Reply
from ._codec import Codec as Codec
from ._codec import Refusal as Refusal
