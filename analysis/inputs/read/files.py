"""Reading an input file: one function every reader uses, so every reader fails the same way.

The bytes are read and decoded here (never by ``Path.read_text``), so a file that is missing,
too large, binary or not UTF-8 ends in a :class:`ParseError` naming the file, not a
``UnicodeDecodeError`` traceback; the size is bounded by ``LIMITS["file_bytes"]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.inputs.errors import ParseError
from analysis.inputs.limits import LIMITS


def read_text_file(path: str | os.PathLike, what: str = "file") -> str:
    """The text of ``path`` decoded as UTF-8 (a leading byte-order mark dropped).

    ``what`` names the file's role in messages ("scenario card", "config.json", ...).
    Raises ParseError when the file cannot be read, is larger than the file limit, holds NUL
    bytes or is not UTF-8.
    """
    p = Path(path)
    top = int(LIMITS["file_bytes"])
    try:
        with open(p, "rb") as f:
            raw = f.read(top + 1)
    except OSError as e:
        raise ParseError(str(p), f"cannot read: {e.strerror or e}") from None
    if len(raw) > top:
        raise ParseError(str(p), f"the {what} is larger than the limit of {top:,} bytes; "
                                 f"valid: a file of at most {top:,} bytes")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise ParseError(str(p), f"not a UTF-8 text file (a NUL byte at byte {nul}); "
                                 f"valid: a {what} saved as UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ParseError(str(p), f"not a UTF-8 text file ({e.reason} at byte {e.start}); "
                                 f"valid: a {what} saved as UTF-8 text") from None
    return text.removeprefix("\ufeff")
