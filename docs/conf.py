"""Sphinx configuration for the triochat documentation (`nox -s docs` builds it).

Every page is Markdown, read by myst-parser. The build is nitpicky and treats warnings as errors,
so a reference that does not resolve fails it. CI has no network apart from package registries, so
intersphinx is off unless TRIOCHAT_DOCS_INTERSPHINX=1 is set; references to Trio, attrs and the
standard library are listed in ``nitpick_ignore_regex`` below instead (see docs/contributing.md).
"""

from __future__ import annotations

import inspect
import os
import re
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

project = "triochat"
author = "The triochat developers"
copyright = "the triochat developers"
release = _version("triochat")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # "Args:" / "Attributes:" sections in Google style
    "sphinxcontrib_trio",  # async functions, async context managers and iterators marked as such
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # [text](protocol.md#framing) links to headings

html_theme = "furo"
html_title = f"triochat {release}"
html_static_path: list[str] = []

# --- API reference --------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True}  # api.md adds :show-inheritance: where it helps
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = False

# --- References: nitpicky, offline --------------------------------------------------------
nitpicky = True

# Intersphinx needs the network to fetch the other projects' inventories; CI has none. Opt in
# locally with TRIOCHAT_DOCS_INTERSPHINX=1 to get links to Trio, attrs and Python.
if os.environ.get("TRIOCHAT_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "trio": ("https://trio.readthedocs.io/en/stable", None),
        "attrs": ("https://www.attrs.org/en/stable", None),
    }

# Without intersphinx, names from other projects cannot resolve. Each pattern says whose they are;
# everything else (every triochat name) must resolve, or the build fails.
nitpick_ignore_regex = [
    # Trio's types in our signatures: streams, channels, TaskStatus, errors raised through us.
    (r"py:.*", r"trio(\..*)?"),
    # attrs' Attribute in validator signatures.
    (r"py:.*", r"attrs?\..*"),
    # Standard library types in signatures and docstrings (datetime, collections.abc, ...).
    (r"py:.*", r"(datetime|dt|collections\.abc|contextlib|types|typing|argparse|os|ssl)\..*"),
    # Private helper types that appear in public signatures (ServerConfig.password and
    # admin_token are Secrets; ChatServer.guard is a Guard); the fields' docs say what they do.
    (r"py:class", r"triochat\.session\._auth\.(Secret|Guard)"),
    # Private types in public signatures (ChatServer's policy, counters, connections and flusher;
    # a WebSocket codec's own replies): the attributes' docs say what they are for.
    (r"py:class", r"(triochat\.[\w.]*\.)?(Guard|SessionPolicy|ServerCounters|Connection|Flusher)"),
    (r"py:class", r"triochat\.session\._input\.Reply"),
    # Built-in exceptions named in "Error handling" sections.
    (r"py:(exc|class)", r"[A-Z]\w*(Error|Exception|Iteration|Group)"),
]

# "Error handling:" sections list exceptions the way "Raises:" does (trio's docstring style).
napoleon_custom_sections = [("Error handling", "raises")]


_ASYNC_ITERATOR = re.compile(r"~?(?:collections\.abc\.)?AsyncIterator\[(.*)\]")


def _tidy_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    """Show attrs factory defaults as ``...`` rather than attrs' ``NOTHING`` sentinel, and give
    an ``async with`` function (an asynccontextmanager) the type it binds, not its generator's.
    """
    if signature:
        signature = signature.replace("= NOTHING", "= ...")
    wrapped = getattr(obj, "__wrapped__", None)
    if (
        return_annotation
        and wrapped is not None
        and inspect.isasyncgenfunction(wrapped)
        and (match := _ASYNC_ITERATOR.fullmatch(return_annotation))
    ):
        return_annotation = match[1]
    return signature, return_annotation


def _no_builtin_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """A constant documented with autodata would show the docstring of its type (``str``);
    the text written under the directive in api.md is what belongs there.
    """
    builtin = type(obj).__doc__
    if what == "data" and builtin and "\n".join(lines).strip() == inspect.cleandoc(builtin):
        lines.clear()


_PRIVATE_PATH = re.compile(r"triochat(?:\.[a-z]+)*\._\w+\.(\w+(?:\.\w+)?)")


def _public_name(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a reference to a name by its private module path (``triochat.core._errors.
    ErrorCode``, as type hints spell it) to where it is documented: the package that re-exports
    it (``triochat.ErrorCode``, or ``triochat.protocols.Codec``)."""
    if node.get("refdomain") != "py":
        return None
    match = _PRIVATE_PATH.fullmatch(node.get("reftarget", ""))
    if match is None:
        return None
    domain = env.get_domain("py")
    package = node["reftarget"].split("._", 1)[0]
    for public in (f"{package}.{match[1]}", f"triochat.{match[1]}"):
        found = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
        )
        if found is not None:
            return found
    return None


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _public_name)
    app.connect("autodoc-process-signature", _tidy_signature)
    app.connect("autodoc-process-docstring", _no_builtin_docstring)
