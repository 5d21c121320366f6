"""``editFile``: exact text replacements in one file, so that a small change costs a small call.

Each ``oldText`` must occur exactly once in the file as it was before the call, the replaced ranges
must not overlap, and either every edit applies or none does. A refused call says which edit and
why, with the lines nearest to what was looked for, so the model can correct itself in one turn.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

NEAREST_LINES = 3


class EditError(ValueError):
    """The call is refused: nothing was changed."""


@dataclass(frozen=True)
class Edit:
    old_text: str
    new_text: str


def parse_edits(raw: Any) -> list[Edit]:
    """The ``edits`` argument as Edits, or EditError saying what is wrong with it."""
    if not isinstance(raw, list) or not raw:
        raise EditError("edits must be a non-empty list of {oldText, newText}")
    edits = []
    for index, entry in enumerate(raw, start=1):
        where = f"edit {index} of {len(raw)}: "
        if not isinstance(entry, dict):
            raise EditError(where + "must be an object {oldText, newText}")
        old, new = entry.get("oldText"), entry.get("newText")
        if not isinstance(old, str) or not old:
            raise EditError(where + "oldText must be a non-empty string")
        if not isinstance(new, str):
            raise EditError(where + "newText must be a string")
        edits.append(Edit(old, new))
    return edits


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _nearest_lines(text: str, wanted: str) -> str:
    """The file's lines most like the first line of ``wanted`` (numbered), to show what is there."""
    lines = text.splitlines()
    first = next((line for line in wanted.splitlines() if line.strip()), wanted).strip()
    close = difflib.get_close_matches(first, [line.strip() for line in lines], n=NEAREST_LINES, cutoff=0.5)
    numbered = [f"{number}: {line}" for number, line in enumerate(lines, start=1) if line.strip() in close]
    if not numbered:
        return "No line of the file is close to it; read the file first."
    return "The nearest lines are:\n" + "\n".join(numbered[:NEAREST_LINES])


def apply_edits(text: str, edits: list[Edit]) -> str:
    """``text`` with every edit made, or EditError for the first edit that cannot be made."""
    ranges: list[tuple[int, int, int]] = []  # start, end, edit index
    for index, edit in enumerate(edits, start=1):
        where = f"edit {index} of {len(edits)}: "
        count = text.count(edit.old_text)
        if count == 0:
            raise EditError(where + "oldText not found. " + _nearest_lines(text, edit.old_text))
        start = text.find(edit.old_text)
        if count > 1:
            lines = []
            position = start
            while position >= 0:
                lines.append(str(_line_of(text, position)))
                position = text.find(edit.old_text, position + 1)
            raise EditError(
                where + f"oldText found {count} times (at lines {', '.join(lines)}): "
                "include more of the surrounding lines so that it is unique"
            )
        end = start + len(edit.old_text)
        for other_start, other_end, other in ranges:
            if start < other_end and other_start < end:
                raise EditError(where + f"overlaps edit {other}: make them one edit")
        ranges.append((start, end, index))
    result = text
    for start, end, index in sorted(ranges, reverse=True):  # from the end, so offsets stay valid
        result = result[:start] + edits[index - 1].new_text + result[end:]
    return result
