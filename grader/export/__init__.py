"""Exporters: each turns a GradeReport into one outside format (see ../shared/formats.md).

None of them sees anything but the report, so hidden checks stay as hidden as the report
keeps them: a check's inputs are never in a report in the first place.
"""
