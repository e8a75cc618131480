"""Student-controlled text made safe to store and to print: bounded in length, no control codes.

Everything a student's code can put into a report (exception texts, type names, cell errors,
file names, notebook metadata) passes through here, so one hostile string can neither blow up
the grader's memory nor repaint the teacher's terminal. Only linear-time regexes are used: the
input is hostile.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \) and two-byte escapes. Each pattern
# scans forward from one ESC and stops at the next ESC at the latest, so the whole is linear.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
# C0 controls except tab and newline, DEL, C1 controls; \r would let a line overwrite itself.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

MESSAGE_LIMIT = 2000  # a check's message, an error or a warning of the report
SHORT_LIMIT = 300  # names, type names, one-line cell errors


def strip_controls(text: str) -> str:
    """Remove terminal escape sequences and control characters (tabs and newlines stay)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text))


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """At most `limit` characters, plus a note saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (truncated: {len(text) - limit} more characters)"


def clean(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """What the report stores for a student-controlled string: stripped, then clipped."""
    head = strip_controls(text[: 4 * limit])  # never scan megabytes for what will be cut anyway
    dropped = max(0, len(text) - 4 * limit) + max(0, len(head) - limit)
    return f"{head[:limit]}… (truncated: {dropped} more characters)" if dropped else head


def one_line(text: str, limit: int = SHORT_LIMIT) -> str:
    """The first non-empty line, cleaned and clipped (for type names and cell errors)."""
    for line in text[: 4 * limit].splitlines():
        if line.strip():
            return clean(line.strip(), limit)
    return ""
