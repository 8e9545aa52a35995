"""Look-alike, invisible and mis-normalised nicks (tracker issue 10, item 7), and case folding.

The rules are in ``triochat/core/_nicks.py``: NFKC, UAX #31 identifiers, no default-ignorable code
points, and two TR39 skeleton keys so that a nick that looks like a taken or registered one is
refused. Clients here are in-memory streams served by a real ``ChatServer``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import unicodedata
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.memory_client import FakeClient
from tools import make_confusables
from triochat import ChatServer, Hub, InvalidNick, InvalidRoom, NickInUse, ServerConfig
from triochat.core._nicks import (
    MAX_COMBINING_MARKS,
    MAX_NICK_LENGTH,
    confusable_rows,
    fold_case,
    look_key,
    nick_key,
    normalize_room_name,
    skeleton,
    validate_nick,
)
from triochat.session._nick_store import NickStore, Registration

#: Bound on each wait for a line, in real seconds, so that a line that never comes fails fast
#: (the registered-nick tests hash passwords in threads, so they cannot use autojump_clock).
WAIT = 10
#: Nicks taken by others while ``alice`` was connected or registered (the issue's list), and two
#: more: a capital I for the l, a vertical bar for the l.
LOOK_ALIKES = [
    "\u0430lice",  # Cyrillic а
    "ａｌｉｃｅ",  # full-width
    "alice\u3164",  # HANGUL FILLER, invisible
    "al\u0131ce",  # dotless ı
    "𝐚𝐥𝐢𝐜𝐞",  # mathematical bold
    "AIice",  # capital I
    "a|ice",
    "ALICE",  # the same nick in another case
]
INVISIBLE = [
    "\u3164",  # HANGUL FILLER: a letter as far as identifiers go
    "\uffa0",  # HALFWIDTH HANGUL FILLER (NFKC makes it U+3164)
    "\u115f\u1160",  # HANGUL CHOSEONG and JUNGSEONG FILLERs
    "a\u200bb",  # ZERO WIDTH SPACE
    "a\u200db",  # ZERO WIDTH JOINER
    "a\u00adb",  # SOFT HYPHEN
    "a\u034f",  # COMBINING GRAPHEME JOINER
    "a\ufe0f",  # VARIATION SELECTOR-16
    "\u202eecila",  # RIGHT-TO-LEFT OVERRIDE
    "a\u2066b",  # LEFT-TO-RIGHT ISOLATE
    "a\u061cb",  # ARABIC LETTER MARK
    "a\U000e0041",  # TAG LATIN CAPITAL LETTER A
]


async def named(nursery: trio.Nursery, server: ChatServer, nick: str, peer: str) -> FakeClient:
    client = await FakeClient.connect(nursery, server, peer, timeout=WAIT)
    await client.send(f"/nick {nick}")
    await client.until(f"now known as {nick}")
    return client


async def refused(client: FakeClient, nick: str) -> str:
    """Ask for *nick*; return the error line that answers."""
    await client.send(f"/nick {nick}")
    return await client.until("error")


# ------------------------------------------------------------------------------ look-alikes


@pytest.mark.parametrize("nick", LOOK_ALIKES)
async def test_look_alike_of_a_connected_nick_is_refused(nursery: trio.Nursery, nick: str) -> None:
    server = ChatServer(config=ServerConfig())
    await named(nursery, server, "alice", "10.0.0.1:1")
    other = await FakeClient.connect(nursery, server, "10.0.0.2:1", timeout=WAIT)
    error = await refused(other, nick)
    assert "taken" in error or "invisible" in error
    assert sorted(member.nick for member in server.hub.members) == ["alice", "guest-2"]
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize("nick", LOOK_ALIKES)
async def test_look_alike_of_a_registered_nick_needs_its_password(
    nursery: trio.Nursery, tmp_path: Path, nick: str
) -> None:
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    owner = await named(nursery, server, "alice", "10.0.0.1:1")
    await owner.send("/register hunter22")
    await owner.until("now registered")
    await owner.send("/quit")
    await owner.until("goodbye")
    thief = await FakeClient.connect(nursery, server, "10.0.0.66:1", timeout=WAIT)
    error = await refused(thief, nick)
    assert "registered" in error or "invisible" in error
    if "invisible" not in error:
        await thief.send(f"/nick {nick} letmein")
        assert await thief.until("error") == "*** error: wrong password for alice"
    assert [member.nick for member in server.hub.members] == ["guest-2"]
    nursery.cancel_scope.cancel()


async def test_owner_of_a_registered_nick_may_use_a_look_alike(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    server = ChatServer(config=ServerConfig(data_dir=str(tmp_path)))
    owner = await named(nursery, server, "alice", "10.0.0.1:1")
    await owner.send("/register hunter22")
    await owner.until("now registered")
    await owner.send("/nick ALICE")  # re-casing your own nick needs no password again
    await owner.until("now known as ALICE")
    await owner.send("/quit")
    await owner.until("goodbye")
    returning = await FakeClient.connect(nursery, server, "10.0.0.1:2", timeout=WAIT)
    assert "looks like alice, which is registered" in await refused(returning, "AIice")
    await returning.send("/nick AIice hunter22")
    await returning.until("now known as AIice")
    nursery.cancel_scope.cancel()


async def test_a_look_alike_cannot_be_registered(tmp_path: Path) -> None:
    store = NickStore(tmp_path)
    await store.open()
    registration = Registration(salt=b"salt", digest=b"hash", n=2, r=1, p=1)
    assert await store.add("alice", registration)
    assert not await store.add("\u0430lice", registration)
    assert not await store.add("AIice", registration)
    assert await store.registered_like("ALICE") == ["alice"]
    assert await store.registered_like("bob") == []
    store.close()


async def test_a_store_from_before_look_alikes_gets_their_keys(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "nicks.sqlite3")) as db, db:
        db.execute(  # the table as it was
            "CREATE TABLE nicks (key TEXT PRIMARY KEY, nick TEXT NOT NULL, salt BLOB NOT NULL,"
            " hash BLOB NOT NULL, n INTEGER NOT NULL, r INTEGER NOT NULL, p INTEGER NOT NULL,"
            " created REAL NOT NULL)"
        )
        db.execute("INSERT INTO nicks VALUES ('mallory', 'Mallory', x'00', x'00', 2, 1, 1, 0)")
    store = NickStore(tmp_path)
    await store.open()
    assert await store.registered_like("MaIIory") == ["Mallory"]
    store.close()


@pytest.mark.parametrize(
    ("taken", "look_alike"),
    [
        ("Alice", "AIice"),  # capital I and small l: lost once both are case-folded
        ("BOB", "\u0412\u041e\u0412"),  # Cyrillic ВОВ: its lower case вов does not look like bob
        ("Großl", "GROSSI"),  # ß folds to ss (lower() would keep it): GROSSl
    ],
)
def test_look_alikes_across_case_are_caught_by_the_second_key(taken: str, look_alike: str) -> None:
    assert nick_key(taken) != nick_key(look_alike)
    assert look_key(taken) == look_key(look_alike)
    hub = Hub()
    hub.connect(taken)
    with pytest.raises(NickInUse, match=f"looks like {taken}"):
        hub.connect(look_alike)


def test_look_alike_nicks_are_refused_by_rename_and_the_guest_counter_skips_them() -> None:
    hub = Hub()
    alice, bob = hub.connect("alice"), hub.connect("bob")
    with pytest.raises(NickInUse):
        hub.rename(bob, "\u0430lice")
    assert bob.nick == "bob"
    hub.rename(alice, "\u0430lice")  # its own look-alike: still the same member
    assert hub.member("alice") is alice
    hub.connect("guest-l")  # a small L
    assert hub.connect().nick == "guest-2"


# ------------------------------------------------------------------------------ the alphabet


@pytest.mark.parametrize("nick", INVISIBLE)
def test_invisible_characters_are_refused(nick: str) -> None:
    with pytest.raises(InvalidNick, match="invisible"):
        validate_nick(nick)


async def test_an_invisible_nick_cannot_speak(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    client = await FakeClient.connect(nursery, server, "10.0.0.1:1", timeout=WAIT)
    assert "invisible character" in await refused(client, "\u3164")
    # A zero-width joiner survives the sanitizing of lines (emoji sequences need it), not nicks.
    await client.send("/nick a\u200db")
    assert "invisible character" in await client.until("error")
    assert [member.nick for member in server.hub.members] == ["guest-1"]
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "nick",
    [
        "²nd",  # NFKC: 2nd
        "①x",  # NFKC: 1x
        "\u0663abc",  # ARABIC-INDIC DIGIT THREE
        "\u0301e",  # a combining mark with nothing to combine with
        "\u2800",  # BRAILLE PATTERN BLANK: looks like a space
        "a\u3000b",  # IDEOGRAPHIC SPACE (NFKC: a space)
        "a" + "\u0301" * (MAX_COMBINING_MARKS + 1),  # a Zalgo tower
        "㍿" * 7,  # 7 characters, 28 after NFKC
    ],
)
def test_refused_after_nfkc(nick: str) -> None:
    with pytest.raises(InvalidNick):
        validate_nick(nick)


@pytest.mark.parametrize(
    ("nick", "spelled"),
    [
        ("किरण", "किरण"),  # Devanagari: vowel signs are combining marks
        (unicodedata.normalize("NFD", "é"), "é"),
        (unicodedata.normalize("NFD", "Nguyễn"), "Nguyễn"),  # two marks on one letter
        ("a" + "\u0301" * MAX_COMBINING_MARKS, "á" + "\u0301" * (MAX_COMBINING_MARKS - 1)),
        ("ｘ" * MAX_NICK_LENGTH, "x" * MAX_NICK_LENGTH),  # the length counts after NFKC
        ("㍿" * 6, "株式会社" * 6),
    ],
)
def test_accepted_and_normalised_to_nfkc(nick: str, spelled: str) -> None:
    assert validate_nick(nick) == spelled
    assert Hub().connect(nick).nick == spelled


async def test_devanagari_and_decomposed_nicks_over_the_wire(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    await named(nursery, server, "किरण", "10.0.0.1:1")
    client = await FakeClient.connect(nursery, server, "10.0.0.2:1", timeout=WAIT)
    await client.send("/nick " + unicodedata.normalize("NFD", "é"))
    await client.until("now known as é")  # the server's spelling is NFC
    assert server.hub.member("É") is not None
    nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------ case folding


async def test_nicks_fold_case_fully_not_just_lower(nursery: trio.Nursery) -> None:
    """casefold(), not lower(): Straße and STRASSE are one nick."""
    server = ChatServer(config=ServerConfig())
    strasse = await named(nursery, server, "Straße", "10.0.0.1:1")
    other = await FakeClient.connect(nursery, server, "10.0.0.2:1", timeout=WAIT)
    assert "the nick STRASSE is taken" in await refused(other, "STRASSE")
    await other.send("/msg strasse hallo")
    assert (await strasse.until("hallo")).endswith("hallo")
    nursery.cancel_scope.cancel()


async def test_room_names_fold_case_fully_not_just_lower(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    first = await named(nursery, server, "first", "10.0.0.1:1")
    second = await named(nursery, server, "second", "10.0.0.2:1")
    await first.send("/join #Straße")
    await first.until("now talking in #Straße")
    await second.send("/join #STRASSE")
    await second.until("now talking in #Straße")  # the same room, under its first spelling
    assert (await first.until("joined")).endswith("second joined #Straße")
    assert len(server.hub.rooms) == 2
    nursery.cancel_scope.cancel()


def test_room_names_are_nfkc_and_have_no_invisible_characters() -> None:
    assert normalize_room_name("ｌｏｂｂｙ") == "#lobby"
    assert normalize_room_name("#किरण") == "#किरण"
    assert normalize_room_name("#2024-q1") == "#2024-q1"
    for bad in ("#\u3164", "#a\u200bb", "#\u0301", "#a[b]", "#" + "x" * 33):
        with pytest.raises(InvalidRoom):
            normalize_room_name(bad)


# ------------------------------------------------------------------------------ ban masks


async def joined(client: FakeClient, room: str) -> None:
    await client.send(f"/join {room}")
    await client.until(f"now talking in {room}")


async def test_ban_masks_fold_case(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    op = await named(nursery, server, "op", "10.0.0.1:1")
    spammer = await named(nursery, server, "SpamBot", "10.0.0.2:1")
    await joined(op, "#quiet")
    await joined(spammer, "#quiet")
    await op.send("/ban SpamBot")  # upper case in the mask and in the nick
    assert (await spammer.until("kicked")).endswith("SpamBot was kicked from #quiet by op (banned)")
    await op.send("/ban Spam*")
    await op.until("banned spam*")  # masks are kept folded...
    await op.send("/bans")
    assert await op.until("bans in") == "*** bans in #quiet: spambot, spam*"
    late = await named(nursery, server, "spambot2", "10.0.0.3:1")
    await late.send("/join #quiet")
    assert "you are banned from #quiet" in await late.until("error")
    await op.send("/unban SPAM*")  # ...so any case lifts them
    await op.until("lifted the ban on spam*")
    await joined(late, "#quiet")
    nursery.cancel_scope.cancel()


async def test_ban_masks_match_look_alikes_and_brackets_literally(nursery: trio.Nursery) -> None:
    server = ChatServer(config=ServerConfig())
    op = await named(nursery, server, "op", "10.0.0.1:1")
    await joined(op, "#quiet")
    await op.send("/ban spambot")
    await op.until("banned spambot")
    await op.send("/ban a[1]")
    await op.until("banned a[1]")
    for nick, banned in (("\u0455pambot", True), ("a[1]", True), ("a1", False)):
        client = await named(nursery, server, nick, f"10.0.1.{len(nick)}:1")
        await client.send("/join #quiet")
        line = await client.until("#quiet")
        assert ("banned" in line) is banned, (nick, line)
    nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------ the data


def test_the_generated_confusables_table_is_up_to_date() -> None:
    assert make_confusables.main(["--check"]) == 0


def test_skeletons_are_stable() -> None:
    for row in confusable_rows():
        target = "".join(chr(int(point, 16)) for point in row.split()[1:])
        assert skeleton(target) == unicodedata.normalize("NFD", target)
    assert skeleton("\u0440\u0430\u0443\u0440\u0430l") == "paypal"  # Cyrillic р, а, у


@given(st.text(max_size=30))
def test_keys_are_functions_of_the_folded_name(text: str) -> None:
    folded = fold_case(text)
    assert fold_case(folded) == folded  # idempotent, as a CASEMAPPING fold must be
    assert nick_key(folded) == nick_key(text)
    if text.isascii():
        assert fold_case(text.upper()) == fold_case(text.lower())


# Letters, marks, digits, connectors and format characters: mostly nicks, some invisible.
@given(st.text(st.characters(categories=["L", "M", "N", "Pc", "Cf"]), min_size=1, max_size=30))
def test_an_accepted_nick_is_accepted_as_the_server_spells_it(text: str) -> None:
    try:
        nick = validate_nick(text)
    except InvalidNick:
        return
    assert validate_nick(nick) == nick
    assert 1 <= len(nick) <= MAX_NICK_LENGTH
