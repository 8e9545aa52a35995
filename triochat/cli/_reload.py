"""Reloading ``triochat serve``'s settings on SIGHUP (or the admin ``reload`` command).

The config file is read again, with the command line's flags still on top; what can change
without dropping anyone is applied (the options marked ``live`` in
:mod:`triochat.cli._options`: limits, timeouts, the log level; the TLS certificate and key are
read again even when their paths are the same, for a renewed certificate), and the log says what
changed and what needs a restart. A file that does not read, or settings that do not fit
together, change nothing: the server goes on as it was, and the log says why.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import attrs

from ..drivers._tls import TLSConfigError
from ..server._server import ChatServer
from ._options import OPTIONS
from ._settings import Settings, SettingsError, read_config_file, server_config, settings

__all__ = ["Reloader"]

log = logging.getLogger("triochat.cli")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return "(not set)" if value is None else str(value)


@attrs.define(eq=False)
class Reloader:
    """Reads *path* again for *args*, whose effective settings are *values* now."""

    args: argparse.Namespace
    path: str | None
    values: Settings
    server: ChatServer | None = None

    async def reload(self) -> str:
        """Apply what changed; a summary (also logged), ``error: ...`` if nothing could be."""
        if self.path is None:
            return self._failed("no --config file: nothing to reload")
        if self.server is None:
            return self._failed("the server is not running yet")
        try:
            new = settings(self.args, read_config_file(self.path))
        except SettingsError as exc:
            return self._failed(str(exc))
        changed = [o for o in OPTIONS if new[o.dest] != self.values[o.dest]]
        live = [o for o in changed if o.live]
        restart = [o for o in changed if not o.live]
        merged = dict(self.values)
        merged.update({o.dest: new[o.dest] for o in live})
        try:
            await self.server.reconfigure(server_config(merged))
        except (ValueError, TLSConfigError) as exc:
            return self._failed(str(exc))
        logging.getLogger().setLevel(merged["log_level"].upper())
        self.values = merged
        applied = [f"{o.key} {_shown(self.values[o.dest])}" for o in live]
        summary = f"reloaded {self.path}: " + (", ".join(applied) or "no change")
        if self.server.config.tls_cert is not None:
            summary += "; TLS certificate read again"
        if restart:
            summary += "; needs a restart: " + ", ".join(
                f"{o.key} {_shown(new[o.dest])}" for o in restart
            )
        log.info("%s", summary)
        return summary

    def _failed(self, why: str) -> str:
        log.error("reload failed, nothing changed: %s", why)
        return f"error: reload failed, nothing changed: {why}"
