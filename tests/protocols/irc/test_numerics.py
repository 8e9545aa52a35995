"""Numerics: codes, names and formats, and the replies they build."""

from __future__ import annotations

import re

import pytest

from triochat.protocols.irc import NUMERICS, Message, Numeric, standard_reply
from triochat.protocols.irc import _numerics as numerics

#: The numerics the IRC front end needs (tracker issue 12).
NEEDED = {
    *("001", "002", "003", "004", "005", "221", "301", "305", "306"),
    *("311", "312", "313", "314", "315", "317", "318", "319", "321", "322", "323", "324"),
    *("329", "331", "332", "333", "341", "352", "353", "366", "367", "368", "372", "375"),
    *("376", "401", "402", "403", "404", "405", "409", "411", "412", "417", "421", "422"),
    *("431", "432", "433", "436", "441", "442", "443", "451", "461", "462", "464", "465"),
    *("471", "472", "473", "474", "475", "476", "477", "482"),
    *("900", "901", "902", "903", "904", "905", "906", "907", "908"),
}


def test_every_needed_numeric_is_there() -> None:
    assert sorted(NEEDED - set(NUMERICS)) == []


def test_every_constant_is_registered_under_its_name_and_code() -> None:
    constants = {
        name: value for name, value in vars(numerics).items() if isinstance(value, Numeric)
    }
    assert len(constants) == len(NUMERICS)
    for name, numeric in constants.items():
        assert numeric.name == name
        assert NUMERICS[numeric.code] is numeric
        assert re.fullmatch(r"[0-9]{3}", numeric.code)


@pytest.mark.parametrize("numeric", list(NUMERICS.values()), ids=lambda numeric: numeric.name)
def test_formats_start_with_the_client_and_end_with_their_text(numeric: Numeric) -> None:
    assert numeric.syntax.startswith("<client>")
    if numeric.text is not None:
        assert numeric.syntax.endswith(":" + numeric.text)


def test_a_reply_with_a_fixed_text() -> None:
    reply = numerics.ERR_NOSUCHNICK.message("irc.test", "alice", "bob")
    assert reply == Message("401", ("alice", "bob", "No such nick/channel"), source="irc.test")
    assert reply.serialize() == ":irc.test 401 alice bob :No such nick/channel"


def test_a_reply_whose_last_parameter_the_caller_gives() -> None:
    reply = numerics.RPL_TOPIC.message("irc.test", "alice", "#a", text="all about a")
    assert reply.serialize() == ":irc.test 332 alice #a :all about a"
    reply = numerics.RPL_TOPICWHOTIME.message("irc.test", "alice", "#a", "bob", "1700000000")
    assert reply.serialize() == ":irc.test 333 alice #a bob 1700000000"


def test_the_fixed_text_can_be_replaced() -> None:
    reply = numerics.ERR_YOUREBANNEDCREEP.message("s", "*", text="Banned: flooding")
    assert reply.params == ("*", "Banned: flooding")


def test_standard_replies() -> None:
    reply = standard_reply(
        "FAIL", "PRIVMSG", "INVALID_UTF8", description="Message rejected", server="irc.test"
    )
    assert reply.serialize() == ":irc.test FAIL PRIVMSG INVALID_UTF8 :Message rejected"
    reply = standard_reply(
        "FAIL",
        "CHATHISTORY",
        "INVALID_TARGET",
        "LATEST",
        "#nope",
        description="No such channel",
        server="irc.test",
    )
    assert reply.params == ("CHATHISTORY", "INVALID_TARGET", "LATEST", "#nope", "No such channel")
