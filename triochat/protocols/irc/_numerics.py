"""The numeric replies the IRC front end sends, with their formats, and IRCv3 standard replies.

Each :class:`Numeric` carries its three-digit code, its conventional name, its format as the
Modern IRC Client Protocol gives it (https://modern.ircdocs.horse, "Numerics") and, where the last
parameter is a fixed sentence, that sentence. :meth:`Numeric.message` builds the reply:

>>> ERR_NOSUCHNICK.message("irc.example", "alice", "bob").serialize()
':irc.example 401 alice bob :No such nick/channel'

The first parameter of every numeric is ``<client>``: the nick of the client it goes to, or ``*``
before it has one. The SASL numerics (900-908) follow IRCv3 sasl-3.1, ``410`` follows IRCv3
capability negotiation, and ``FAIL``/``WARN``/``NOTE`` follow IRCv3 standard replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from ._message import Message

__all__ = [
    "ERR_ALREADYREGISTERED",
    "ERR_BADCHANMASK",
    "ERR_BADCHANNELKEY",
    "ERR_BANNEDFROMCHAN",
    "ERR_CANNOTSENDTOCHAN",
    "ERR_CHANNELISFULL",
    "ERR_CHANOPRIVSNEEDED",
    "ERR_ERRONEUSNICKNAME",
    "ERR_INPUTTOOLONG",
    "ERR_INVALIDCAPCMD",
    "ERR_INVALIDUSERNAME",
    "ERR_INVITEONLYCHAN",
    "ERR_NEEDMOREPARAMS",
    "ERR_NICKCOLLISION",
    "ERR_NICKLOCKED",
    "ERR_NICKNAMEINUSE",
    "ERR_NOCHANMODES",
    "ERR_NOMOTD",
    "ERR_NONICKNAMEGIVEN",
    "ERR_NOORIGIN",
    "ERR_NOPRIVILEGES",
    "ERR_NORECIPIENT",
    "ERR_NOSUCHCHANNEL",
    "ERR_NOSUCHNICK",
    "ERR_NOSUCHSERVER",
    "ERR_NOTEXTTOSEND",
    "ERR_NOTONCHANNEL",
    "ERR_NOTREGISTERED",
    "ERR_PASSWDMISMATCH",
    "ERR_SASLABORTED",
    "ERR_SASLALREADY",
    "ERR_SASLFAIL",
    "ERR_SASLTOOLONG",
    "ERR_TOOMANYCHANNELS",
    "ERR_UMODEUNKNOWNFLAG",
    "ERR_UNKNOWNCOMMAND",
    "ERR_UNKNOWNERROR",
    "ERR_UNKNOWNMODE",
    "ERR_USERNOTINCHANNEL",
    "ERR_USERONCHANNEL",
    "ERR_USERSDONTMATCH",
    "ERR_YOUREBANNEDCREEP",
    "NUMERICS",
    "RPL_AWAY",
    "RPL_BANLIST",
    "RPL_CHANNELMODEIS",
    "RPL_CREATED",
    "RPL_CREATIONTIME",
    "RPL_ENDOFBANLIST",
    "RPL_ENDOFMOTD",
    "RPL_ENDOFNAMES",
    "RPL_ENDOFWHO",
    "RPL_ENDOFWHOIS",
    "RPL_INVITING",
    "RPL_ISUPPORT",
    "RPL_LIST",
    "RPL_LISTEND",
    "RPL_LISTSTART",
    "RPL_LOGGEDIN",
    "RPL_LOGGEDOUT",
    "RPL_MOTD",
    "RPL_MOTDSTART",
    "RPL_MYINFO",
    "RPL_NAMREPLY",
    "RPL_NOTOPIC",
    "RPL_NOWAWAY",
    "RPL_SASLMECHS",
    "RPL_SASLSUCCESS",
    "RPL_TOPIC",
    "RPL_TOPICWHOTIME",
    "RPL_UMODEIS",
    "RPL_UNAWAY",
    "RPL_WELCOME",
    "RPL_WHOISACCOUNT",
    "RPL_WHOISCHANNELS",
    "RPL_WHOISIDLE",
    "RPL_WHOISOPERATOR",
    "RPL_WHOISSERVER",
    "RPL_WHOISUSER",
    "RPL_WHOREPLY",
    "RPL_WHOWASUSER",
    "RPL_YOUREOPER",
    "RPL_YOURHOST",
    "Numeric",
]


@attrs.frozen
class Numeric:
    """One numeric reply.

    Attributes:
        code: the three digits, the reply's command.
        name: the conventional name (``RPL_WELCOME``), for logs and documentation.
        syntax: the format as Modern IRC writes it; ``<client>`` comes first.
        text: the fixed sentence that is the last parameter, or None where the caller says it
            (a topic, a realname, or a sentence with a value inside).
    """

    code: str
    name: str
    syntax: str
    text: str | None = None

    def message(self, server: str, client: str, *params: str, text: str | None = None) -> Message:
        """The reply from *server* to *client* (``*`` before it has a nick).

        *params* come after ``<client>``; the last parameter is *text* if given, else the fixed
        sentence, if this numeric has one.
        """
        last = text if text is not None else self.text
        every = (client, *params) if last is None else (client, *params, last)
        return Message(self.code, every, source=server)


def _numeric(code: str, name: str, syntax: str, text: str | None = None) -> Numeric:
    return Numeric(code, name, syntax, text)


# Registration and the greeting.
RPL_WELCOME: Final = _numeric(
    "001", "RPL_WELCOME", "<client> :Welcome to the <networkname> Network, <nick>[!<user>@<host>]"
)
RPL_YOURHOST: Final = _numeric(
    "002", "RPL_YOURHOST", "<client> :Your host is <servername>, running version <version>"
)
RPL_CREATED: Final = _numeric("003", "RPL_CREATED", "<client> :This server was created <datetime>")
RPL_MYINFO: Final = _numeric(
    "004",
    "RPL_MYINFO",
    "<client> <servername> <version> <available user modes> <available channel modes>"
    " [<channel modes with a parameter>]",
)
RPL_ISUPPORT: Final = _numeric(
    "005",
    "RPL_ISUPPORT",
    "<client> <1-13 tokens> :are supported by this server",
    "are supported by this server",
)
RPL_UMODEIS: Final = _numeric("221", "RPL_UMODEIS", "<client> <user modes>")

# Away.
RPL_AWAY: Final = _numeric("301", "RPL_AWAY", "<client> <nick> :<message>")
RPL_UNAWAY: Final = _numeric(
    "305",
    "RPL_UNAWAY",
    "<client> :You are no longer marked as being away",
    "You are no longer marked as being away",
)
RPL_NOWAWAY: Final = _numeric(
    "306",
    "RPL_NOWAWAY",
    "<client> :You have been marked as being away",
    "You have been marked as being away",
)

# WHOIS, WHOWAS and WHO. (316 is not defined by Modern IRC: RFC 2812 only reserves it.)
RPL_WHOISUSER: Final = _numeric(
    "311", "RPL_WHOISUSER", "<client> <nick> <username> <host> * :<realname>"
)
RPL_WHOISSERVER: Final = _numeric(
    "312", "RPL_WHOISSERVER", "<client> <nick> <server> :<server info>"
)
RPL_WHOISOPERATOR: Final = _numeric(
    "313", "RPL_WHOISOPERATOR", "<client> <nick> :is an IRC operator", "is an IRC operator"
)
RPL_WHOWASUSER: Final = _numeric(
    "314", "RPL_WHOWASUSER", "<client> <nick> <username> <host> * :<realname>"
)
RPL_ENDOFWHO: Final = _numeric(
    "315", "RPL_ENDOFWHO", "<client> <mask> :End of WHO list", "End of WHO list"
)
RPL_WHOISIDLE: Final = _numeric(
    "317",
    "RPL_WHOISIDLE",
    "<client> <nick> <secs> <signon> :seconds idle, signon time",
    "seconds idle, signon time",
)
RPL_ENDOFWHOIS: Final = _numeric(
    "318", "RPL_ENDOFWHOIS", "<client> <nick> :End of /WHOIS list", "End of /WHOIS list"
)
RPL_WHOISCHANNELS: Final = _numeric(
    "319", "RPL_WHOISCHANNELS", "<client> <nick> :[prefix]<channel>{ [prefix]<channel>}"
)
RPL_WHOISACCOUNT: Final = _numeric(
    "330", "RPL_WHOISACCOUNT", "<client> <nick> <account> :is logged in as", "is logged in as"
)
RPL_WHOREPLY: Final = _numeric(
    "352",
    "RPL_WHOREPLY",
    "<client> <channel> <username> <host> <server> <nick> <flags> :<hopcount> <realname>",
)

# LIST, modes, topics, invitations, names, bans.
RPL_LISTSTART: Final = _numeric("321", "RPL_LISTSTART", "<client> Channel :Users  Name")
RPL_LIST: Final = _numeric("322", "RPL_LIST", "<client> <channel> <client count> :<topic>")
RPL_LISTEND: Final = _numeric("323", "RPL_LISTEND", "<client> :End of /LIST", "End of /LIST")
RPL_CHANNELMODEIS: Final = _numeric(
    "324", "RPL_CHANNELMODEIS", "<client> <channel> <modestring> <mode arguments>..."
)
RPL_CREATIONTIME: Final = _numeric("329", "RPL_CREATIONTIME", "<client> <channel> <creationtime>")
RPL_NOTOPIC: Final = _numeric(
    "331", "RPL_NOTOPIC", "<client> <channel> :No topic is set", "No topic is set"
)
RPL_TOPIC: Final = _numeric("332", "RPL_TOPIC", "<client> <channel> :<topic>")
RPL_TOPICWHOTIME: Final = _numeric("333", "RPL_TOPICWHOTIME", "<client> <channel> <nick> <setat>")
RPL_INVITING: Final = _numeric("341", "RPL_INVITING", "<client> <nick> <channel>")
RPL_NAMREPLY: Final = _numeric(
    "353", "RPL_NAMREPLY", "<client> <symbol> <channel> :[prefix]<nick>{ [prefix]<nick>}"
)
RPL_ENDOFNAMES: Final = _numeric(
    "366", "RPL_ENDOFNAMES", "<client> <channel> :End of /NAMES list", "End of /NAMES list"
)
RPL_BANLIST: Final = _numeric("367", "RPL_BANLIST", "<client> <channel> <mask> [<who> <set-ts>]")
RPL_ENDOFBANLIST: Final = _numeric(
    "368",
    "RPL_ENDOFBANLIST",
    "<client> <channel> :End of channel ban list",
    "End of channel ban list",
)

# MOTD and operators.
RPL_MOTD: Final = _numeric("372", "RPL_MOTD", "<client> :<line of the motd>")
RPL_MOTDSTART: Final = _numeric(
    "375", "RPL_MOTDSTART", "<client> :- <server> Message of the day - "
)
RPL_ENDOFMOTD: Final = _numeric(
    "376", "RPL_ENDOFMOTD", "<client> :End of /MOTD command.", "End of /MOTD command."
)
RPL_YOUREOPER: Final = _numeric(
    "381", "RPL_YOUREOPER", "<client> :You are now an IRC operator", "You are now an IRC operator"
)

# Errors.
ERR_UNKNOWNERROR: Final = _numeric(
    "400", "ERR_UNKNOWNERROR", "<client> <command>{ <subcommand>} :<info>"
)
ERR_NOSUCHNICK: Final = _numeric(
    "401", "ERR_NOSUCHNICK", "<client> <nickname> :No such nick/channel", "No such nick/channel"
)
ERR_NOSUCHSERVER: Final = _numeric(
    "402", "ERR_NOSUCHSERVER", "<client> <server name> :No such server", "No such server"
)
ERR_NOSUCHCHANNEL: Final = _numeric(
    "403", "ERR_NOSUCHCHANNEL", "<client> <channel> :No such channel", "No such channel"
)
ERR_CANNOTSENDTOCHAN: Final = _numeric(
    "404",
    "ERR_CANNOTSENDTOCHAN",
    "<client> <channel> :Cannot send to channel",
    "Cannot send to channel",
)
ERR_TOOMANYCHANNELS: Final = _numeric(
    "405",
    "ERR_TOOMANYCHANNELS",
    "<client> <channel> :You have joined too many channels",
    "You have joined too many channels",
)
ERR_NOORIGIN: Final = _numeric(
    "409", "ERR_NOORIGIN", "<client> :No origin specified", "No origin specified"
)
ERR_INVALIDCAPCMD: Final = _numeric(
    "410", "ERR_INVALIDCAPCMD", "<client> <command> :Invalid CAP command", "Invalid CAP command"
)
ERR_NORECIPIENT: Final = _numeric(
    "411", "ERR_NORECIPIENT", "<client> :No recipient given (<command>)"
)
ERR_NOTEXTTOSEND: Final = _numeric(
    "412", "ERR_NOTEXTTOSEND", "<client> :No text to send", "No text to send"
)
ERR_INPUTTOOLONG: Final = _numeric(
    "417", "ERR_INPUTTOOLONG", "<client> :Input line was too long", "Input line was too long"
)
ERR_UNKNOWNCOMMAND: Final = _numeric(
    "421", "ERR_UNKNOWNCOMMAND", "<client> <command> :Unknown command", "Unknown command"
)
ERR_NOMOTD: Final = _numeric(
    "422", "ERR_NOMOTD", "<client> :MOTD File is missing", "MOTD File is missing"
)
ERR_NONICKNAMEGIVEN: Final = _numeric(
    "431", "ERR_NONICKNAMEGIVEN", "<client> :No nickname given", "No nickname given"
)
ERR_ERRONEUSNICKNAME: Final = _numeric(
    # "Erroneus" is the spelling every server and the Modern IRC document use.
    "432",
    "ERR_ERRONEUSNICKNAME",
    "<client> <nick> :Erroneus nickname",
    "Erroneus nickname",
)
ERR_NICKNAMEINUSE: Final = _numeric(
    "433",
    "ERR_NICKNAMEINUSE",
    "<client> <nick> :Nickname is already in use",
    "Nickname is already in use",
)
ERR_NICKCOLLISION: Final = _numeric(
    "436", "ERR_NICKCOLLISION", "<client> <nick> :Nickname collision KILL from <user>@<host>"
)
ERR_USERNOTINCHANNEL: Final = _numeric(
    "441",
    "ERR_USERNOTINCHANNEL",
    "<client> <nick> <channel> :They aren't on that channel",
    "They aren't on that channel",
)
ERR_NOTONCHANNEL: Final = _numeric(
    "442",
    "ERR_NOTONCHANNEL",
    "<client> <channel> :You're not on that channel",
    "You're not on that channel",
)
ERR_USERONCHANNEL: Final = _numeric(
    "443",
    "ERR_USERONCHANNEL",
    "<client> <nick> <channel> :is already on channel",
    "is already on channel",
)
ERR_NOTREGISTERED: Final = _numeric(
    "451", "ERR_NOTREGISTERED", "<client> :You have not registered", "You have not registered"
)
ERR_NEEDMOREPARAMS: Final = _numeric(
    "461",
    "ERR_NEEDMOREPARAMS",
    "<client> <command> :Not enough parameters",
    "Not enough parameters",
)
ERR_ALREADYREGISTERED: Final = _numeric(
    "462", "ERR_ALREADYREGISTERED", "<client> :You may not reregister", "You may not reregister"
)
ERR_PASSWDMISMATCH: Final = _numeric(
    "464", "ERR_PASSWDMISMATCH", "<client> :Password incorrect", "Password incorrect"
)
ERR_YOUREBANNEDCREEP: Final = _numeric(
    "465",
    "ERR_YOUREBANNEDCREEP",
    "<client> :You are banned from this server.",
    "You are banned from this server.",
)
ERR_INVALIDUSERNAME: Final = _numeric(
    "468",
    "ERR_INVALIDUSERNAME",
    "<client> :Your username is not valid",
    "Your username is not valid",
)
ERR_CHANNELISFULL: Final = _numeric(
    "471",
    "ERR_CHANNELISFULL",
    "<client> <channel> :Cannot join channel (+l)",
    "Cannot join channel (+l)",
)
ERR_UNKNOWNMODE: Final = _numeric(
    "472",
    "ERR_UNKNOWNMODE",
    "<client> <modechar> :is unknown mode char to me",
    "is unknown mode char to me",
)
ERR_INVITEONLYCHAN: Final = _numeric(
    "473",
    "ERR_INVITEONLYCHAN",
    "<client> <channel> :Cannot join channel (+i)",
    "Cannot join channel (+i)",
)
ERR_BANNEDFROMCHAN: Final = _numeric(
    "474",
    "ERR_BANNEDFROMCHAN",
    "<client> <channel> :Cannot join channel (+b)",
    "Cannot join channel (+b)",
)
ERR_BADCHANNELKEY: Final = _numeric(
    "475",
    "ERR_BADCHANNELKEY",
    "<client> <channel> :Cannot join channel (+k)",
    "Cannot join channel (+k)",
)
ERR_BADCHANMASK: Final = _numeric(
    # Modern IRC writes it without <client>; servers send one, and so do we, like every numeric.
    "476",
    "ERR_BADCHANMASK",
    "<client> <channel> :Bad Channel Mask",
    "Bad Channel Mask",
)
ERR_NOCHANMODES: Final = _numeric(
    # Not in Modern IRC; RFC 2812's format. Other servers reuse 477 for other things.
    "477",
    "ERR_NOCHANMODES",
    "<client> <channel> :Channel doesn't support modes",
    "Channel doesn't support modes",
)
ERR_NOPRIVILEGES: Final = _numeric(
    "481",
    "ERR_NOPRIVILEGES",
    "<client> :Permission Denied- You're not an IRC operator",
    "Permission Denied- You're not an IRC operator",
)
ERR_CHANOPRIVSNEEDED: Final = _numeric(
    "482",
    "ERR_CHANOPRIVSNEEDED",
    "<client> <channel> :You're not channel operator",
    "You're not channel operator",
)
ERR_UMODEUNKNOWNFLAG: Final = _numeric(
    "501", "ERR_UMODEUNKNOWNFLAG", "<client> :Unknown MODE flag", "Unknown MODE flag"
)
ERR_USERSDONTMATCH: Final = _numeric(
    "502",
    "ERR_USERSDONTMATCH",
    "<client> :Cant change mode for other users",
    "Cant change mode for other users",
)

# SASL (IRCv3 sasl-3.1 / sasl-3.2).
RPL_LOGGEDIN: Final = _numeric(
    "900",
    "RPL_LOGGEDIN",
    "<client> <nick>!<user>@<host> <account> :You are now logged in as <username>",
)
RPL_LOGGEDOUT: Final = _numeric(
    "901",
    "RPL_LOGGEDOUT",
    "<client> <nick>!<user>@<host> :You are now logged out",
    "You are now logged out",
)
ERR_NICKLOCKED: Final = _numeric(
    "902",
    "ERR_NICKLOCKED",
    "<client> :You must use a nick assigned to you",
    "You must use a nick assigned to you",
)
RPL_SASLSUCCESS: Final = _numeric(
    "903",
    "RPL_SASLSUCCESS",
    "<client> :SASL authentication successful",
    "SASL authentication successful",
)
ERR_SASLFAIL: Final = _numeric(
    "904", "ERR_SASLFAIL", "<client> :SASL authentication failed", "SASL authentication failed"
)
ERR_SASLTOOLONG: Final = _numeric(
    "905", "ERR_SASLTOOLONG", "<client> :SASL message too long", "SASL message too long"
)
ERR_SASLABORTED: Final = _numeric(
    "906",
    "ERR_SASLABORTED",
    "<client> :SASL authentication aborted",
    "SASL authentication aborted",
)
ERR_SASLALREADY: Final = _numeric(
    "907",
    "ERR_SASLALREADY",
    "<client> :You have already authenticated using SASL",
    "You have already authenticated using SASL",
)
RPL_SASLMECHS: Final = _numeric(
    "908",
    "RPL_SASLMECHS",
    "<client> <mechanisms> :are available SASL mechanisms",
    "are available SASL mechanisms",
)

#: Every numeric above, by code.
NUMERICS: Final[Mapping[str, Numeric]] = {
    value.code: value for value in list(globals().values()) if isinstance(value, Numeric)
}
