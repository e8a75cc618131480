"""Bulk grading: which sandbox protections were missing, said once for the whole run.

Every report carries its kernel's sandbox warnings; in bulk they would reach only the per-notebook
JSON. The run's usual set (the one most graded notebooks share) goes at the top of the console
summary and summary.md, and any notebook whose set differs is named with the difference (e.g. a
kernel that could not join its cgroup).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from grader.report import GradeReport

_MISSING = re.compile(r"^sandbox: no (?P<what>.+?) protection on this machine \((?P<why>.*)\)$", re.S)


def _protection(warning: str) -> tuple[str, str] | None:
    """(protection, why) for a sandbox warning, None for any other warning."""
    match = _MISSING.match(warning)
    if match:
        return match["what"], match["why"]
    if warning.startswith("sandbox:") or warning.startswith("the sandbox was disabled"):
        return warning, ""
    return None


@dataclass
class SandboxSummary:
    usual: dict[str, str] = field(default_factory=dict)  # protection -> why, missing for most notebooks
    differing: dict[str, list[str]] = field(default_factory=dict)  # submission -> how its set differs

    def lines(self) -> list[str]:
        """Plain-text lines (the caller styles or escapes them)."""
        if not self.usual and not self.differing:
            return ["sandbox: every protection was active for every notebook"]
        out = []
        if self.usual:
            out.append("sandbox: missing for this whole run (see `grade --check-sandbox` for how to get them):")
            out += [f"  - {what}" + (f": {why}" if why else "") for what, why in self.usual.items()]
        else:
            out.append("sandbox: every protection was active for most notebooks")
        for submission, differences in self.differing.items():
            out.append(f"  {submission}: {'; '.join(differences)}")
        return out

    def markdown(self) -> str:
        lines = ["## Sandbox", ""]
        if self.usual:
            lines += ["Protections missing for this whole run (`grade --check-sandbox` says how to get them):", ""]
            lines += [f"- **{what}**" + (f": {why}" if why else "") for what, why in self.usual.items()]
        else:
            lines.append("Every protection was active" + (" for most notebooks." if self.differing else "."))
        if self.differing:
            lines += ["", "Notebooks whose protections differ:", ""]
            lines += [f"- `{submission}`: {'; '.join(d)}" for submission, d in self.differing.items()]
        return "\n".join(lines) + "\n"


def summarize_sandbox(reports: dict[str, GradeReport]) -> SandboxSummary:
    """reports: submission -> its report. Only notebooks that were graded ran a kernel to report on."""
    missing: dict[str, dict[str, str]] = {}
    for submission, report in reports.items():
        if report.status != "graded":
            continue
        found = (_protection(w) for w in report.warnings)
        missing[submission] = dict(p for p in found if p is not None)
    if not missing:
        return SandboxSummary()
    counts = Counter(frozenset(m) for m in missing.values())
    usual_set = max(counts, key=lambda s: (counts[s], -len(s)))  # ties: the smaller set
    example = next(m for m in missing.values() if frozenset(m) == usual_set)
    summary = SandboxSummary(usual={what: example[what] for what in sorted(usual_set)})
    for submission, protections in sorted(missing.items()):
        extra = sorted(set(protections) - usual_set)
        present = sorted(usual_set - set(protections))
        differences = [f"also missing {what}" + (f" ({protections[what]})" if protections[what] else "")
                       for what in extra]
        differences += [f"had {what}" for what in present]
        if differences:
            summary.differing[submission] = differences
    return summary
