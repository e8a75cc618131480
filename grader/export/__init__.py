"""Exporters: each turns a GradeReport into one outside format (described in docs/platforms.md).

None of them sees anything but the report, so hidden checks stay as hidden as the report
keeps them: a check's inputs are never in a report in the first place. Each platform's format
is a pydantic model here, so a field the platform does not know cannot slip in.

Two rules hold for every format:
- a check the grader skipped (a hidden check graded without solutions/) is not a failure: it
  is left out, or marked skipped where the format can say so (JUnit);
- a report that could not be graded still carries the assignment's maximum when it is known,
  so the platform records "0 of 18", never "0 of 0".
"""
