"""Generate ``triochat/core/confusables.txt``: the Unicode TR39 confusable skeleton table for nicks.

Run at development time, never by the server::

    python tools/make_confusables.py          # rewrite triochat/core/confusables.txt
    python tools/make_confusables.py --check  # exit 1 if the committed table is out of date

The data comes from the ``confusable-homoglyphs`` package (a development dependency): it ships
Unicode's ``confusables.txt`` as JSON. That JSON lost the direction of each mapping (every pair
is stored both ways), so the direction is recovered here:

- ``confusables.txt`` maps a single source character to a prototype string, and a prototype is
  never itself a source. In the symmetric graph every component is therefore a star: the
  prototype in the middle, its sources around it.
- A node of several characters, or a node with more than one neighbour, is the prototype.
- A component of just two single characters does not say which was the prototype. Either choice
  gives the same classes of look-alikes, which is all a skeleton is compared for; the one that
  NFKC leaves alone is taken (a CJK compatibility ideograph decomposes to its pair), else the
  lower code point.

Targets are then closed (each is mapped again until nothing changes), so that one pass of the
table over an NFD string is the whole skeleton. Only sources that can occur in a nick after NFKC
(and case folding) are kept, which makes the table small.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import json
import sys
import unicodedata
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "triochat" / "core" / "confusables.txt"
_PACKAGE = "confusable_homoglyphs"
# The JSON wraps right-to-left characters in LEFT-TO-RIGHT MARKs (how confusables.txt shows them
# in its comments); they are not part of the data.
_LRM = "\u200e"


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def load_pairs() -> dict[str, set[str]]:
    """The installed package's confusables as an undirected graph: node -> neighbours."""
    data_file = importlib.resources.files(_PACKAGE) / "confusables.json"
    data: dict[str, list[dict[str, str]]] = json.loads(data_file.read_text(encoding="utf-8"))
    graph: dict[str, set[str]] = {}
    for node, neighbours in data.items():
        for neighbour in neighbours:
            a, b = node.replace(_LRM, ""), neighbour["c"].replace(_LRM, "")
            if a and b and a != b:
                graph.setdefault(a, set()).add(b)
                graph.setdefault(b, set()).add(a)
    return graph


def _representative_order(char: str) -> tuple[bool, int]:
    return unicodedata.normalize("NFKC", char) != char, ord(char)


def directed_mapping(graph: dict[str, set[str]]) -> dict[str, str]:
    """Source character -> prototype, recovered from the star-shaped components of *graph*."""
    mapping: dict[str, str] = {}
    for node, neighbours in graph.items():
        if len(node) != 1 or len(neighbours) != 1:
            continue  # a prototype (several characters, or several sources)
        (other,) = neighbours
        if len(other) > 1 or len(graph[other]) > 1:
            mapping[node] = other
        elif _representative_order(other) < _representative_order(node):
            mapping[node] = other  # a pair of two single characters: see the module docstring
    return mapping


def close(mapping: dict[str, str]) -> dict[str, str]:
    """Map every target again until it is stable under NFD + the mapping + NFD."""

    def once(text: str) -> str:
        return _nfd("".join(mapping.get(char, char) for char in _nfd(text)))

    closed: dict[str, str] = {}
    for source, target in mapping.items():
        for _ in range(10):
            again = once(target)
            if again == target:
                break
            target = again
        else:
            raise RuntimeError(f"the mapping of U+{ord(source):04X} does not settle")
        if target != source:
            closed[source] = target
    return closed


def possible_characters() -> set[str]:
    """Characters that can be left in a string after NFKC, case folding and NFD."""
    chars: set[str] = set("*?")  # ban masks are keyed like nicks
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        if unicodedata.category(char) in ("Cn", "Cs", "Co"):
            continue
        nfkc = unicodedata.normalize("NFKC", char)
        chars.update(_nfd(nfkc))
        chars.update(_nfd(nfkc.casefold()))
    return chars


def build_table() -> dict[int, str]:
    mapping = close(directed_mapping(load_pairs()))
    possible = possible_characters()
    table = {ord(source): target for source, target in mapping.items() if source in possible}
    for target in table.values():  # the closure makes one pass enough
        assert all(ord(char) not in table for char in target), target
    return dict(sorted(table.items()))


def render(table: dict[int, str]) -> str:
    version = importlib.metadata.version(_PACKAGE.replace("_", "-"))
    rows = "\n".join(
        f"{source:04X} {' '.join(f'{ord(char):04X}' for char in target)}"
        for source, target in table.items()
    )
    return (
        "# Unicode TR39 confusable prototypes, for nick skeletons. GENERATED: do not edit.\n"
        f"# Made by tools/make_confusables.py from confusable-homoglyphs {version} (Unicode's\n"
        "# confusables.txt); tests/adversarial/test_nicks.py checks it is up to date.\n"
        "# Each row is a source code point and the code points of its prototype, in hex;\n"
        "# triochat/core/_nicks.py reads it.\n"
        f"{rows}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the file")
    args = parser.parse_args(argv)
    text = render(build_table())
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is out of date: run python tools/make_confusables.py")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
