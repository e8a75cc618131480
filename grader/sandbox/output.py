"""A cap on what one cell may print: nbclient keeps every output in memory, so a cell printing
50 MB (or 1 GB) would be stored whole. Past the cap, outputs are dropped and one notice says so."""

from __future__ import annotations

from typing import Any

from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_output

from grader.sandbox.limits import OUTPUT_LIMIT


def _size(content: dict[str, Any]) -> int:
    size = len(str(content.get("text", "")))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, (str, bytes)) else len(str(value))
    size += sum(len(str(line)) for line in content.get("traceback") or [])
    return size + 64


class CappedNotebookClient(NotebookClient):
    output_limit = OUTPUT_LIMIT

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        if getattr(self, "_capped_outs", None) is not outs:  # a new cell
            self._capped_outs, self._capped_used, self._capped_hit = outs, 0, False
        self._capped_used += _size(msg.get("content") or {})
        # Error outputs count too: an exception's text is the student's and can be any size (the
        # cell's status comes from the execute reply, not from this output).
        if self._capped_used <= self.output_limit:
            return super().output(outs, msg, display_id, cell_index)
        if not self._capped_hit:
            self._capped_hit = True
            notice = new_output("stream", name="stderr",
                                text=f"\n[grader: output truncated after {self.output_limit >> 10} KB]\n")
            outs.append(notice)
        return None
