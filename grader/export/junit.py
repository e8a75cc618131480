"""JUnit XML: one <testcase> per check, for CI systems that render test results."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.report import GradeReport


def to_junit(report: GradeReport) -> str:
    name = report.assignment or "submission"
    tests = report.tests
    suite = ET.Element("testsuite", {
        "name": name,
        "tests": str(len(tests) or 1),
        "failures": str(sum(t.status == "failed" for t in tests)),
        "errors": str(sum(t.status in ("error", "timeout") for t in tests) + (report.status == "error")),
        "skipped": str(sum(t.status == "skipped" for t in tests)),
        "time": f"{report.duration_s:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for key, value in (("score", report.score), ("max_score", report.max_score), ("device", report.device),
                       ("submission", report.submission.path), ("grader_version", report.grader_version)):
        ET.SubElement(props, "property", {"name": key, "value": str(value)})
    if report.status == "error":  # nothing could be graded: one failing case says why
        case = ET.SubElement(suite, "testcase", {"classname": name, "name": "submission can be graded"})
        ET.SubElement(case, "error", {"message": "; ".join(report.errors)}).text = "\n".join(report.errors)
    for test in tests:
        label = f"{test.name} [{test.score:g}/{test.max_score:g}]" + (" (hidden)" if test.hidden else "")
        case = ET.SubElement(suite, "testcase", {"classname": name, "name": label, "time": f"{test.duration_s:.3f}"})
        if test.status == "failed":
            ET.SubElement(case, "failure", {"message": test.message}).text = test.message
        elif test.status in ("error", "timeout"):
            ET.SubElement(case, "error", {"message": test.message, "type": test.status}).text = test.message
        elif test.status == "skipped":
            ET.SubElement(case, "skipped", {"message": test.message})
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
