"""The effective settings of ``triochat serve``: defaults, then the config file, then flags.

The config file is TOML (read with the standard library's ``tomllib``); its keys are the flags'
names without the dashes (see :mod:`triochat.cli._options`). An unknown key or a bad value is
one line that names the key and the file. ``--print-config`` prints the result as TOML.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from typing import Any

from ..drivers._endpoints import DEFAULT_HOST, DEFAULT_PORT, Endpoint
from ..server._config import ServerConfig
from ..session._auth import Secret, read_secret
from ._options import GIVEN, OPTIONS, by_key

__all__ = ["Settings", "SettingsError", "read_config_file", "server_config", "settings", "to_toml"]

Settings = dict[str, Any]
"""Settings by the ``dest`` of their option."""


class SettingsError(ValueError):
    """A config file or a combination of settings that cannot be used (one line for people)."""


def read_config_file(path: str) -> Settings:
    """The settings a TOML file gives, by key; raises :exc:`SettingsError`."""
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    found: Settings = {}
    for key, value in table.items():
        option = by_key(key)
        if option is None:
            raise SettingsError(f"{path}: unknown key {key!r} (the keys are the flags' names)")
        try:
            found[option.dest] = option.value_from_toml(value)
        except ValueError as exc:
            raise SettingsError(f"{path}: bad value for {key!r}: {exc}") from None
    for option in OPTIONS:  # two keys of one exclusive group, as argparse forbids for flags
        if option.exclusive is None or option.dest not in found:
            continue
        for other in OPTIONS:
            if other is not option and other.exclusive == option.exclusive and other.dest in found:
                raise SettingsError(
                    f"{path}: {option.key!r} and {other.key!r} cannot both be given"
                )
    return found


def settings(args: argparse.Namespace, file: Settings | None) -> Settings:
    """Every setting by its ``dest``: the flags given on the command line, then *file*, then the
    defaults. A flag of an exclusive group overrides the file's choice in that group."""
    given: set[str] = getattr(args, GIVEN, None) or set()
    result: Settings = {option.dest: option.default for option in OPTIONS}
    if file:
        overridden = {
            other.dest
            for option in OPTIONS
            if option.dest in given and option.exclusive is not None
            for other in OPTIONS
            if other.exclusive == option.exclusive
        }
        result.update({k: v for k, v in file.items() if k not in overridden})
    result.update({dest: getattr(args, dest) for dest in given})
    return result


def _secret(path: str | None, env: str | None, what: str) -> Secret | None:
    if path is None and env is None:
        return None
    return read_secret(path=path, env=env, what=what)


def _check_listening(values: Settings) -> list[Endpoint]:
    listen: list[Endpoint] = values["listen"] or []
    if listen and (values["host"] is not None or values["port"] is not None):
        raise SettingsError("--listen replaces --host/--port: give every endpoint with --listen")
    has_tls_endpoint = any(e.is_tls for e in listen)
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        raise SettingsError("--tls-cert and --tls-key go together: give both")
    if has_tls_endpoint and values["tls_cert"] is None:
        scheme = next(e.scheme for e in listen if e.is_tls)
        article = "an" if scheme[0] in "aeiou" else "a"
        raise SettingsError(
            f"{article} {scheme}:// endpoint needs --tls-cert FILE and --tls-key FILE"
        )
    if values["tls_cert"] is not None and not has_tls_endpoint:
        raise SettingsError(
            "--tls-cert and --tls-key are used by tls://, ircs:// and wss:// endpoints only: "
            "add one, as in --listen tls://0.0.0.0:6697"
        )
    if values["ws_origin"] and not any(e.is_web for e in listen):
        raise SettingsError(
            "--ws-origin is for the web chat: add --listen ws://HOST:PORT or wss://HOST:PORT"
        )
    return listen


def server_config(values: Settings) -> ServerConfig:
    """The server's configuration; raises :exc:`SettingsError` (or ValueError) for people."""
    listen = _check_listening(values)
    return ServerConfig(
        host=DEFAULT_HOST if values["host"] is None else values["host"],
        port=DEFAULT_PORT if values["port"] is None else values["port"],
        listen=listen,
        tls_cert=values["tls_cert"],
        tls_key=values["tls_key"],
        tls_handshake_timeout=values["tls_handshake_timeout"],
        max_line=values["max_line"],
        outbox_events=values["outbox"],
        outbox_bytes=values["outbox_bytes"],
        outbox_soft_events=values["outbox_soft"],
        outbox_soft_bytes=values["outbox_soft_bytes"],
        idle_timeout=values["idle_timeout"],
        write_timeout=values["write_timeout"],
        max_clients=values["max_clients"],
        max_clients_per_ip=values["max_clients_per_ip"],
        message_rate=values["rate"],
        message_burst=values["burst"],
        flood_limit=values["flood_limit"],
        flood_window=values["flood_window"],
        shutdown_grace=values["shutdown_grace"],
        announce_limit=values["announce_limit"],
        max_rooms=values["max_rooms"],
        rooms_per_client=values["rooms_per_client"],
        history_events=values["history"],
        history_bytes=values["history_bytes"],
        history_total_bytes=values["history_total_bytes"],
        password=_secret(values["password_file"], values["password_env"], "password"),
        admin_token=_secret(values["admin_token_file"], values["admin_token_env"], "admin token"),
        data_dir=values["data_dir"],
        keep_history=values["keep_history"],
        keep_days=values["keep_days"],
        auth_timeout=values["auth_timeout"],
        ws_origins=tuple(values["ws_origin"] or ()),
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, Endpoint):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def to_toml(values: Settings) -> str:
    """*values* as a config file: every key, in the order of ``--help``; unset ones commented.

    Secrets appear as their source (``password-file``, ``password-env``), as they are given:
    the settings never hold a secret's value."""
    lines = ["# triochat serve: effective settings (flags > config file > defaults)"]
    resolved = dict(values)
    if not resolved["listen"]:
        resolved["host"] = DEFAULT_HOST if resolved["host"] is None else resolved["host"]
        resolved["port"] = DEFAULT_PORT if resolved["port"] is None else resolved["port"]
    for option in OPTIONS:
        value = resolved[option.dest]
        if value is None or value == []:
            lines.append(f"# {option.key} = (not set)")
        else:
            lines.append(f"{option.key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
