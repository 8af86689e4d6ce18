"""One markdown splitter for every reader of hand-written documents (scenario cards, plans).

:func:`split` turns a markdown text into a :class:`Document`: a tree of :class:`Section` s (one
per heading, nested by level) and, in reading order, the :class:`Item` s of each section. Every
item keeps its 1-based line number, so a reader can always say "from line N".

What the splitter does, and nothing more (it knows no field names; the readers classify):

* ``# Heading`` .. ``###### Heading`` open a section; so does a line that is only ``**Title**``
  or ``Title:`` when the caller's ``pseudo_heading(title)`` says the title names a section.
* Blank lines, horizontal rules (``---``), table separator rows (``|---|---|``) and fence markers
  are dropped.
* **Fenced code blocks are skipped** (their line spans are listed in ``Document.fenced``), except
  a fence that wraps markdown: no info string (or ``md`` / ``markdown``) and a heading inside.
  Hand-written cards are often pasted whole inside one ``````` fence; that fence is unwrapped.
* Each other line becomes an :class:`Item`: the bullet (``-``, ``*``, ``1.``) and a leading tick
  (✓ ✗ ☐ ``[x]``) removed, bold / backtick markers removed, whitespace collapsed. ``key`` and
  ``value`` come from ``Key: value`` (also ``Key = value`` when ``equals``) or from a table row's
  first cell and the rest (``cells`` holds every cell); a table's ``| Key | Value |`` header row
  is marked ``header``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = ["Document", "Item", "Section", "clean", "split", "split_key_value"]

HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s*(.*?)\s*#*\s*$")
RULE_RE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
FENCE_RE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
TABLE_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-{3,}")
BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
TICK_RE = re.compile(r"^\s*(?:[-*+•]\s*)?(✓|✔|☑|✅|\[[xX]\]|✗|✘|❌|☐|\[ \])\s*")
TICK_TRUE = frozenset({"✓", "✔", "☑", "✅", "[x]", "[X]"})
_BOLD_ALONE_RE = re.compile(r"\*\*([^*]+)\*\*\s*:?")
_TITLE_COLON_RE = re.compile(r"([A-Za-z][\w /&()-]{2,60}):")
_TABLE_HEADER_KEYS = ("key", "field", "parameter", "item", "name")
_TABLE_HEADER_VALUES = ("value", "values", "setting")


@dataclass(frozen=True)
class Item:
    """One content line of a document."""

    no: int                    # 1-based line number in the text
    raw: str                   # the line as written
    text: str                  # without bullet, tick, bold and backticks; spaces collapsed
    key: str | None            # "Key" of "Key: value" or a table row's first cell; None if none
    value: str                 # after the key (the whole text when there is no key)
    cells: tuple[str, ...] = ()  # a table row's cells ((), not a table row)
    bullet: bool = False       # written as a list item
    tick: bool | None = None   # ✓ True, ✗ / ☐ False, no tick None
    header: bool = False       # a table's "| Key | Value |" header row

    @property
    def is_row(self) -> bool:
        return bool(self.cells)


@dataclass
class Section:
    """A heading and what follows it up to the next heading of the same or a higher level."""

    title: str                 # cleaned heading text ("" for the part before any heading)
    level: int                 # 1..6 (0 for the root)
    no: int                    # line of the heading (0 for the root)
    items: list[Item] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    parent: Section | None = field(default=None, repr=False)
    last: int = 0              # last line that belongs to the section (children included)

    def path(self) -> list[str]:
        """Titles from the outermost heading down to this one."""
        out, s = [], self
        while s is not None and s.level:
            out.append(s.title)
            s = s.parent
        return out[::-1]

    def walk(self) -> Iterator[Section]:
        """This section and every section under it, in document order."""
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class Document:
    root: Section
    fenced: list[tuple[int, int]] = field(default_factory=list)  # (first, last) lines skipped

    def sections(self) -> list[Section]:
        """Every section with a heading, in document order."""
        return list(self.root.walk())[1:]

    def events(self) -> Iterator[Section | Item]:
        """Headings (as their Section) and items interleaved in line order."""
        for s in self.root.walk():
            if s.level:
                yield s
            yield from s.items

    def items(self) -> list[tuple[Section, Item]]:
        """Every item with the section it sits in, in line order."""
        return [(s, it) for s in self.root.walk() for it in s.items]


def clean(s: str) -> str:
    """Drop bold / underline / backtick markers and collapse whitespace."""
    s = s.replace("**", "").replace("__", "").replace("`", "")
    return re.sub(r"\s+", " ", s).strip()


def split_key_value(text: str, equals: bool = True) -> tuple[str | None, str, tuple[str, ...]]:
    """``(key, value, cells)`` of a cleaned line.

    "| Key | value |" -> ("Key", "value", cells); a header row "| Key | Value |" -> ("", "", cells);
    "Key: value" -> ("Key", "value", ()); "Key = value" (``equals``) likewise; "10:30" has no key.
    """
    if text.startswith("|"):
        cells = tuple(c.strip() for c in text.strip().strip("|").split("|"))
        if len(cells) >= 2 and cells[0].lower() in _TABLE_HEADER_KEYS \
                and cells[1].lower() in _TABLE_HEADER_VALUES:
            return "", "", cells
        if len(cells) >= 2 and cells[0]:
            return cells[0], " ".join(cells[1:]), cells
        return None, text, cells
    m = re.match(r"^([^:：]{1,80}?)\s*[:：]\s*(.*)$", text)
    if m and not re.match(r"^\d+$", m.group(1)):
        return m.group(1), m.group(2), ()
    if equals:
        m = re.match(r"^([A-Za-z][^=]{0,60}?)\s*=\s*(.*)$", text)
        if m and "," not in m.group(1):
            return m.group(1), m.group(2), ()
    return None, text, ()


def _fences(lines: list[str]) -> tuple[set[int], list[tuple[int, int]]]:
    """Indexes (0-based) of lines to skip for fences, and the 1-based spans of skipped code."""
    skip: set[int] = set()
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        marker, info = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(lines) and not re.match(rf"^\s*{re.escape(marker[0]) * 3}", lines[j]):
            j += 1
        body = lines[i + 1:j]
        wraps_markdown = info in ("", "md", "markdown") and any(HEADING_RE.match(b) for b in body)
        skip.add(i)
        if j < len(lines):
            skip.add(j)
        if not wraps_markdown:
            skip.update(range(i + 1, j))
            if body:
                spans.append((i + 2, j))
        i = j + 1
    return skip, spans


def _item(no: int, raw: str, equals: bool) -> Item:
    tm = TICK_RE.match(raw)
    tick = None
    if tm:
        tick = tm.group(1) in TICK_TRUE
        body = raw[tm.end():]
    else:
        body = BULLET_RE.sub("", raw, count=1)
    text = clean(body)
    key, value, cells = split_key_value(text, equals)
    return Item(no, raw, text, key, value, cells, bullet=bool(BULLET_RE.match(raw)) or bool(tm),
                tick=tick, header=key == "" and bool(cells))


def _pseudo_title(raw: str, pseudo_heading: Callable[[str], bool] | None) -> str | None:
    """The title of a "**Title**" or "Title:" line standing alone, when the caller accepts it."""
    if pseudo_heading is None or BULLET_RE.match(raw):
        return None
    stripped = raw.strip()
    m = _BOLD_ALONE_RE.fullmatch(stripped) or _TITLE_COLON_RE.fullmatch(stripped)
    if m and pseudo_heading(m.group(1)):
        return clean(m.group(1))
    return None


def split(text: str, *, pseudo_heading: Callable[[str], bool] | None = None,
          pseudo_level: int = 2, equals: bool = True) -> Document:
    """Split a markdown ``text`` into sections and items (see the module docstring)."""
    lines = text.splitlines()
    skip, spans = _fences(lines)
    root = Section("", 0, 0)
    current = root
    for idx, raw in enumerate(lines):
        no = idx + 1
        if idx in skip or not raw.strip() or RULE_RE.match(raw) or TABLE_SEPARATOR_RE.match(raw):
            continue
        h = HEADING_RE.match(raw)
        title = clean(h.group(2)) if h else _pseudo_title(raw, pseudo_heading)
        if title is not None:
            level = len(h.group(1)) if h else pseudo_level
            parent = current
            while parent.level >= level:
                parent = parent.parent
            current = Section(title, level, no, parent=parent, last=no)
            parent.children.append(current)
            continue
        current.items.append(_item(no, raw, equals))
        s: Section | None = current
        while s is not None:
            s.last = no
            s = s.parent
    return Document(root, spans)
