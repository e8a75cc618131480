"""An autograder for PyTorch notebooks: headless execution, probes in the student's kernel,
judgement in the grader's own process."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("d2l-autograder")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
