"""The command codec (sans-IO): every JSON command and its errors, exactly.

The text syntax's basics are in test_wire.py; these tables pin down what each JSON command
object becomes, so that a key read under the wrong name, a lost default or a changed message
fails here rather than in a client months later.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest

from triochat.protocols.text._parse import parse_command
from triochat.session._commands import (
    Admin,
    Ban,
    Command,
    Format,
    Help,
    History,
    Join,
    Kick,
    Me,
    Msg,
    Nick,
    Op,
    Part,
    Pass,
    Quit,
    Register,
    Rooms,
    Say,
    Switch,
    Topic,
    Unknown,
    Unregister,
    Who,
)
from triochat.session._handlers import HANDLERS


def parse_json(obj: object) -> Command | None:
    return parse_command(json.dumps(obj), json_commands=True)


@pytest.mark.parametrize(
    ("obj", "command"),
    [
        ({"cmd": "say", "text": "hi"}, Say("hi")),
        ({"cmd": "say", "text": "hi", "room": "#x"}, Say("hi", "#x")),
        ({"cmd": "SAY", "text": "hi"}, Say("hi")),
        ({"cmd": "me", "text": "waves"}, Me("waves")),
        ({"cmd": "me", "text": "waves", "room": "#x"}, Me("waves", "#x")),
        ({"cmd": "nick", "nick": "bob"}, Nick("bob")),
        ({"cmd": "nick", "nick": "bob", "password": "pw"}, Nick("bob", "pw")),
        ({"cmd": "pass", "password": "pw"}, Pass("pw")),
        ({"cmd": "admin", "token": "t0ken"}, Admin("t0ken")),
        ({"cmd": "register", "password": "pw"}, Register("pw")),
        ({"cmd": "unregister", "password": "pw"}, Unregister("pw")),
        ({"cmd": "kick", "nick": "eve"}, Kick("eve", "")),
        ({"cmd": "kick", "nick": "eve", "reason": "spam"}, Kick("eve", "spam")),
        ({"cmd": "op", "nick": "bob"}, Op("bob", grant=True)),
        ({"cmd": "deop", "nick": "bob"}, Op("bob", grant=False)),
        ({"cmd": "ban", "mask": "eve*"}, Ban("eve*", add=True)),
        ({"cmd": "unban", "mask": "eve*"}, Ban("eve*", add=False)),
        ({"cmd": "bans"}, Ban(None)),
        ({"cmd": "quit"}, Quit("")),
        ({"cmd": "quit", "reason": "bye"}, Quit("bye")),
        ({"cmd": "help"}, Help()),
        ({"cmd": "who"}, Who(None)),
        ({"cmd": "who", "room": "#x"}, Who("#x")),
        ({"cmd": "join", "room": "#x"}, Join("#x")),
        ({"cmd": "part"}, Part(None, "")),
        ({"cmd": "part", "room": "#x", "reason": "lunch"}, Part("#x", "lunch")),
        ({"cmd": "rooms"}, Rooms()),
        ({"cmd": "topic"}, Topic(None)),
        ({"cmd": "topic", "text": "news"}, Topic("news")),
        ({"cmd": "switch", "room": "#x"}, Switch("#x")),
        ({"cmd": "msg", "to": "bob", "text": "psst"}, Msg("bob", "psst")),
        ({"cmd": "history"}, History(None)),
        ({"cmd": "history", "count": 1}, History(1)),
        ({"cmd": "history", "count": 25}, History(25)),
        ({"cmd": "format", "format": "json"}, Format("json")),
        ({"cmd": "format", "format": "TEXT"}, Format("text")),
        # Escapes that JSON decodes into controls are removed after decoding.
        ({"cmd": "say", "text": "a\x1b[31mb\nc"}, Say("abc")),
        ({"cmd": "part", "room": "#x", "reason": "\x07bye"}, Part("#x", "bye")),
    ],
)
def test_json_command(obj: dict[str, Any], command: Command) -> None:
    assert parse_json(obj) == command


def invalid(cmd: str, why: str) -> Unknown:
    return Unknown(f"invalid JSON command {cmd!r}: {why}")


BAD_COUNT = invalid("history", '"count" must be a positive integer, at most 999999999')


@pytest.mark.parametrize(
    ("obj", "command"),
    [
        ({"cmd": "say"}, invalid("say", '"text" is required')),
        ({"cmd": "say", "text": None}, invalid("say", '"text" is required')),
        ({"cmd": "say", "text": 5}, invalid("say", '"text" must be a string')),
        ({"cmd": "say", "text": "hi", "room": 5}, invalid("say", '"room" must be a string')),
        ({"cmd": "me"}, invalid("me", '"text" is required')),
        ({"cmd": "nick"}, invalid("nick", '"nick" is required')),
        (
            {"cmd": "nick", "nick": "b", "password": 1},
            invalid("nick", '"password" must be a string'),
        ),
        ({"cmd": "pass"}, invalid("pass", '"password" is required')),
        ({"cmd": "admin"}, invalid("admin", '"token" is required')),
        ({"cmd": "register"}, invalid("register", '"password" is required')),
        ({"cmd": "unregister"}, invalid("unregister", '"password" is required')),
        ({"cmd": "kick"}, invalid("kick", '"nick" is required')),
        ({"cmd": "kick", "nick": "e", "reason": []}, invalid("kick", '"reason" must be a string')),
        ({"cmd": "op"}, invalid("op", '"nick" is required')),
        ({"cmd": "deop"}, invalid("deop", '"nick" is required')),
        ({"cmd": "ban"}, invalid("ban", '"mask" is required')),
        ({"cmd": "unban"}, invalid("unban", '"mask" is required')),
        ({"cmd": "quit", "reason": 1}, invalid("quit", '"reason" must be a string')),
        ({"cmd": "who", "room": 1}, invalid("who", '"room" must be a string')),
        ({"cmd": "join"}, invalid("join", '"room" is required')),
        ({"cmd": "part", "room": 1}, invalid("part", '"room" must be a string')),
        ({"cmd": "topic", "text": 1}, invalid("topic", '"text" must be a string')),
        ({"cmd": "switch"}, invalid("switch", '"room" is required')),
        ({"cmd": "msg", "text": "hi"}, invalid("msg", '"to" is required')),
        ({"cmd": "msg", "to": "bob"}, invalid("msg", '"text" is required')),
        ({"cmd": "history", "count": 0}, BAD_COUNT),
        ({"cmd": "history", "count": -3}, BAD_COUNT),
        ({"cmd": "history", "count": "5"}, BAD_COUNT),
        ({"cmd": "history", "count": 2.0}, BAD_COUNT),
        ({"cmd": "history", "count": True}, BAD_COUNT),
        ({"cmd": "format"}, invalid("format", '"format" is required')),
        ({"cmd": "format", "format": "xml"}, invalid("format", '"format" is "json" or "text"')),
        ({"cmd": "Fly"}, Unknown("unknown command 'fly'; /help lists the commands")),
        ({"cmd": 5}, Unknown('invalid JSON command: "cmd" must name a command')),
        ({"text": "no cmd"}, Unknown('invalid JSON command: "cmd" must name a command')),
        (["say", "hi"], None),  # not an object: read as text (it does not start with "{")
    ],
)
def test_bad_json_command(obj: object, command: Command | None) -> None:
    if command is None:
        assert parse_json(obj) == Say(json.dumps(obj))
    else:
        assert parse_json(obj) == command


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        "{}" + "}",
        '{"cmd": "say"' + "," * 3,
        "{" + '"a":[' * 5000 + "]" * 5000 + "}",  # deeper than the JSON parser goes
    ],
)
def test_lines_that_are_not_json_objects(line: str) -> None:
    assert parse_command(line, json_commands=True) == Unknown(
        "invalid JSON command: not a JSON object"
    )


def test_json_is_only_read_when_asked_for_and_may_be_indented() -> None:
    line = '{"cmd": "help"}'
    assert parse_command(line) == Say(line)
    assert parse_command("  " + line, json_commands=True) == Help()


# ------------------------------------------------------------------------------ text commands


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/pass open sesame", Pass("open sesame")),
        ("/pass", Unknown("usage: /pass PASSWORD")),
        ("/admin t0ken", Admin("t0ken")),
        ("/OPER t0ken", Admin("t0ken")),
        ("/admin", Unknown("usage: /admin TOKEN")),
        ("/register hunter22", Register("hunter22")),
        ("/register", Unknown("usage: /register PASSWORD")),
        ("/unregister hunter22", Unregister("hunter22")),
        ("/unregister", Unknown("usage: /unregister PASSWORD")),
        ("/kick eve", Kick("eve", "")),
        ("/kick eve   spam  and more ", Kick("eve", "spam  and more")),
        ("/kick", Unknown("usage: /kick NICK [REASON]")),
        ("/op bob", Op("bob", grant=True)),
        ("/OP bob", Op("bob", grant=True)),
        ("/deop bob", Op("bob", grant=False)),
        ("/op", Unknown("usage: /op NICK")),
        ("/DEOP bob carol", Unknown("usage: /deop NICK")),
        ("/ban eve*", Ban("eve*", add=True)),
        ("/Ban eve*", Ban("eve*", add=True)),
        ("/unban eve*", Ban("eve*", add=False)),
        ("/ban", Unknown("usage: /ban MASK")),
        ("/UNBAN a b", Unknown("usage: /unban MASK")),
        ("/bans", Ban(None)),
        ("/who #rust", Who("#rust")),
        ("/who #a #b", Unknown("usage: /who [#ROOM [PAGE]], PAGE a number from 1")),
        ("/join #rust", Join("#rust")),
        ("/j rust", Join("rust")),
        ("/join", Unknown("usage: /join #ROOM")),
        ("/join #a #b", Unknown("usage: /join #ROOM")),
        ("/part", Part(None, "")),
        ("/part #rust", Part("#rust", "")),
        ("/part #rust  gone fishing ", Part("#rust", "gone fishing")),
        ("/leave gone fishing", Part(None, "gone fishing")),
        ("/rooms", Rooms()),
        ("/LIST", Rooms()),
        ("/topic", Topic(None)),
        ("/topic  release  day ", Topic("release  day")),
        ("/switch #rust", Switch("#rust")),
        ("/go #rust", Switch("#rust")),
        ("/switch", Unknown("usage: /switch #ROOM")),
        ("/switch #a #b", Unknown("usage: /switch #ROOM")),
        ("/msg bob hi  there", Msg("bob", "hi  there")),
        ("/query bob hi", Msg("bob", "hi")),
        ("/TELL bob hi", Msg("bob", "hi")),
        ("/msg bob", Unknown("usage: /msg NICK TEXT")),
        ("/msg", Unknown("usage: /msg NICK TEXT")),
        ("/history", History(None)),
        ("/history 1", History(1)),
        ("/history 30", History(30)),
        ("/history 0", Unknown("usage: /history [N], N a whole number from 1 to 999999999")),
        ("/history -2", Unknown("usage: /history [N], N a whole number from 1 to 999999999")),
        ("/history ten", Unknown("usage: /history [N], N a whole number from 1 to 999999999")),
        ("/format json", Format("json")),
        ("/FORMAT Text", Format("text")),
        ("/format", Unknown("usage: /format json|text")),
        ("/format xml", Unknown("usage: /format json|text")),
        ("/Frob x", Unknown("unknown command /Frob; /help lists the commands")),
    ],
)
def test_text_command(line: str, command: Command) -> None:
    assert parse_command(line) == command
    # The same line on a JSON connection: not JSON (no "{"), so read as text all the same.
    assert parse_command(line, json_commands=True) == command


def test_every_command_has_a_handler() -> None:
    """The session's command table carries out every command class a codec can produce (one
    missing would be ignored without a word)."""
    assert set(HANDLERS) == set(typing.get_args(Command))
