"""The Lua scripts of the Redis engine, and the keys they touch.

Each script runs atomically in Redis, which is what makes one dense order per room out of many
processes: ``APPEND`` takes the room's next ``seq`` (``INCR``) and adds the event to the streams
in the same step, so two processes can never interleave between the two.

Keys, all under one prefix (``triochat`` unless configured), a room named by its case-folded
name ``R``:

- ``P:all``: one stream of every room's events and state changes, in the order Redis made them;
  every process reads it (one reader task) and delivers what concerns its rooms.
- ``P:room:R:log``: the room's kept events (messages, actions, topics), trimmed to the history
  bound: the history a process loads when it opens the room.
- ``P:room:R:seq``, ``P:room:R:epoch``: the room's last ``seq`` and its epoch. A room whose
  epoch is missing (new, or Redis lost its data) gets a new one, and its ``seq`` starts again.
- ``P:room:R:topic`` (a hash, field ``topic``), ``P:room:R:ops`` (a set of nick keys),
  ``P:room:R:bans`` (a list of masks, in the order they were added): the room's state.
- ``P:done:PROCESS:N``: that an append or state change was done (expires), so that a batch
  sent again after a lost connection is applied once.
"""

from __future__ import annotations

from typing import Final

__all__ = ["APPEND", "LOAD", "NICK", "PRESENCE_SECONDS", "STATE", "room_keys"]


def room_keys(prefix: str, room_key: str) -> dict[str, str]:
    """The keys of one room (see the module's docstring)."""
    base = f"{prefix}:room:{room_key}"
    names = ("seq", "epoch", "log", "topic", "ops", "bans", "members")
    return {name: f"{base}:{name}" for name in names}


# How long a "done" mark is kept: far longer than any retry after a lost connection.
DONE_SECONDS: Final = 300

# KEYS: seq, epoch, log, all, done, members. ARGV: new epoch (if the room has none), room, kind,
# sender, time, fields (JSON), process, room stream bound, all stream bound, kept ("1" or "0"),
# then what the event does to the room's members: "+" KEY VALUE (joined), "-" KEY (left, kicked),
# "~" OLD-KEY NEW-KEY VALUE (renamed), or "". Returns the seq, or 0 if this append was done.
APPEND: Final = """
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', %d) then return 0 end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1], KEYS[3])
end
local seq = redis.call('INCR', KEYS[1])
local entry = {'t', 'e', 'room', ARGV[2], 'epoch', epoch, 'seq', seq, 'kind', ARGV[3],
  'sender', ARGV[4], 'time', ARGV[5], 'fields', ARGV[6], 'proc', ARGV[7]}
if ARGV[10] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', unpack(entry))
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', unpack(entry))
if ARGV[11] == '+' then redis.call('HSET', KEYS[6], ARGV[12], ARGV[13])
elseif ARGV[11] == '-' then redis.call('HDEL', KEYS[6], ARGV[12])
elseif ARGV[11] == '~' then
  redis.call('HDEL', KEYS[6], ARGV[12])
  redis.call('HSET', KEYS[6], ARGV[13], ARGV[14])
end
return seq
""".replace("%d", str(DONE_SECONDS))

# The state as one JSON text, read back after a change (and when a room is loaded).
_READ_STATE: Final = """
local function read_state(topic_key, ops_key, bans_key)
  local topic = redis.call('HGET', topic_key, 'topic') or ''
  return cjson.encode({topic = topic, ops = redis.call('SMEMBERS', ops_key),
    bans = redis.call('LRANGE', bans_key, 0, -1)})
end
"""

# KEYS: topic, ops, bans, all, seq, done. ARGV: room, process, all stream bound, change (JSON:
# topic?, ops_add, ops_del, bans_add, bans_del, creator). A creator's change (a new room's first
# member made its operator) applies only if the room is new everywhere: no event, no operator.
STATE: Final = (
    _READ_STATE
    + """
if not redis.call('SET', KEYS[6], '1', 'NX', 'EX', %d) then return 0 end
local change = cjson.decode(ARGV[4])
if change.creator then
  local seq = tonumber(redis.call('GET', KEYS[5]) or '0')
  if seq ~= 0 or redis.call('SCARD', KEYS[2]) ~= 0 then change.ops_add = {} end
end
if type(change.topic) == 'string' then redis.call('HSET', KEYS[1], 'topic', change.topic) end
for _, key in ipairs(change.ops_add) do redis.call('SADD', KEYS[2], key) end
for _, key in ipairs(change.ops_del) do redis.call('SREM', KEYS[2], key) end
for _, mask in ipairs(change.bans_del) do redis.call('LREM', KEYS[3], 0, mask) end
for _, mask in ipairs(change.bans_add) do
  redis.call('LREM', KEYS[3], 0, mask)
  redis.call('RPUSH', KEYS[3], mask)
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 't', 's', 'room', ARGV[1],
  'proc', ARGV[2], 'state', read_state(KEYS[1], KEYS[2], KEYS[3]))
return 1
""".replace("%d", str(DONE_SECONDS))
)

# KEYS: seq, epoch, log, topic, ops, bans, all, members. ARGV: new epoch (if the room has
# none), count. Returns {epoch, seq, newest kept entries (newest first), state, id of the newest
# entry of the all stream, members (key, "PROCESS NICK"...)}: the room as of one instant.
LOAD: Final = (
    _READ_STATE
    + """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[8])
end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local kept = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', ARGV[2])
local newest = redis.call('XREVRANGE', KEYS[7], '+', '-', 'COUNT', 1)
local last = '0-0'
if #newest > 0 then last = newest[1][1] end
return {epoch, seq, kept, read_state(KEYS[4], KEYS[5], KEYS[6]), last,
  redis.call('HGETALL', KEYS[8])}
"""
)

#: How long a process's liveness key and its nick keys live without a heartbeat, in seconds.
PRESENCE_SECONDS: Final = 30

# KEYS: the nick's key, all. ARGV: "PROCESS NICK", "+" (taken) or "-" (let go), nick, process,
# all stream bound, how long the key lives (ms). A nick is let go only by the process holding it.
NICK: Final = """
if ARGV[2] == '+' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[6])
elseif redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 't', 'n', 'op', ARGV[2],
  'nick', ARGV[3], 'proc', ARGV[4])
return 1
"""
