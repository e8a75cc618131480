"""The instructor's view of a graded class: an offline HTML report and per-student feedback pages.

Everything here is built from the per-submission `GradeReport` JSONs a bulk run leaves in its
output folder (plus `grades.csv` as the index), so the pages can be rebuilt from that folder
alone, long after the run.
"""
