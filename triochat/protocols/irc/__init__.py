"""IRC, sans-IO: messages, casemapping, numerics, ISUPPORT and connection registration.

Pure data in, data out, after h11 and wsproto: nothing here reads a socket, keeps a clock or
imports trio or the rest of triochat. The IRC front end's driver feeds bytes to an
:class:`IrcLineSplitter`, parses each line with :func:`parse_client_line`, lets a
:class:`Registration` answer until the client is :class:`Registered`, and encodes replies with
:meth:`Message.encode`. See docs/irc.md.
"""

from ._casemap import ASCII as ASCII
from ._casemap import RFC1459 as RFC1459
from ._casemap import RFC1459_STRICT as RFC1459_STRICT
from ._casemap import CaseMapping as CaseMapping
from ._casemap import nick_protocol_problem as nick_protocol_problem
from ._codec import IRC_CAPABILITIES as IRC_CAPABILITIES
from ._codec import IrcCodec as IrcCodec
from ._codec import IrcSettings as IrcSettings
from ._isupport import MAX_TOKENS_PER_LINE as MAX_TOKENS_PER_LINE
from ._isupport import Features as Features
from ._isupport import escape_isupport_value as escape_isupport_value
from ._isupport import isupport_messages as isupport_messages
from ._message import MAX_CLIENT_TAG_DATA as MAX_CLIENT_TAG_DATA
from ._message import MAX_INPUT_LINE as MAX_INPUT_LINE
from ._message import MAX_LINE as MAX_LINE
from ._message import MAX_TAG_SECTION as MAX_TAG_SECTION
from ._message import InputTooLong as InputTooLong
from ._message import IrcLineSplitter as IrcLineSplitter
from ._message import LineTooLong as LineTooLong
from ._message import Message as Message
from ._message import MessageError as MessageError
from ._message import NotUtf8 as NotUtf8
from ._message import UserHost as UserHost
from ._message import client_only_tags as client_only_tags
from ._message import escape_tag_value as escape_tag_value
from ._message import middle_param as middle_param
from ._message import parse_client_line as parse_client_line
from ._message import parse_message as parse_message
from ._message import split_userhost as split_userhost
from ._message import unescape_tag_value as unescape_tag_value
from ._numerics import NUMERICS as NUMERICS
from ._numerics import Numeric as Numeric
from ._registration import DEFAULT_CAPABILITIES as DEFAULT_CAPABILITIES
from ._registration import CapabilitiesChanged as CapabilitiesChanged
from ._registration import CheckSasl as CheckSasl
from ._registration import Forward as Forward
from ._registration import NickCheck as NickCheck
from ._registration import Output as Output
from ._registration import Quit as Quit
from ._registration import Registered as Registered
from ._registration import Registration as Registration
from ._standard_replies import standard_reply as standard_reply
