"""An autograder for PyTorch notebooks: headless execution, probes in the student's kernel,
judgement in the grader's own process."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("d2l-autograder")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"


def check(function=None, **options):  # noqa: ANN001, ANN201 - thin lazy entry point
    """Practice check in your own notebook: `from grader import check; check("softmax")`.

    Imported lazily so that `import grader` stays cheap for the grader itself; see grader/live.py.
    """
    from grader.live import check as run

    return run(function, **options)


def load_ipython_extension(shell):  # noqa: ANN001, ANN201 - IPython's extension hook
    """`%load_ext grader` registers the `%grade NAME` magic (grader/live.py)."""
    from grader.live import load_ipython_extension as load

    load(shell)
