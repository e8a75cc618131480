"""grader/forbid.py: forbidden library calls found in a notebook's source, aliases resolved,
and no false alarm on innocent look-alikes."""

from __future__ import annotations

import textwrap

import pytest

from grader.forbid import Forbid, find_forbidden

CONV = Forbid(names=("conv2d", "Conv2d", "*pool2d*", "*Pool2d", "unfold", "Unfold", "correlate*"),
              methods=("unfold",), modules=("torch", "scipy"), reason="write the loops yourself")
SETUP = "import torch\nfrom torch import nn\n"


def use(cells: list[str], function: str = "corr2d", rule: Forbid = CONV):
    sources = {i: textwrap.dedent(src) for i, src in enumerate(cells)}
    marked = {function: max(i for i, s in sources.items() if f"def {function}" in s or f"{function} =" in s)}
    return find_forbidden((rule,), (function,), sources, marked)


FORBIDDEN = [
    ("F alias", [SETUP + "import torch.nn.functional as F", "def corr2d(X, K):\n    return F.conv2d(X[None, None], K[None, None])[0, 0]"]),
    ("full path", [SETUP, "def corr2d(X, K):\n    return torch.nn.functional.conv2d(X, K)"]),
    ("torch.conv2d", [SETUP, "def corr2d(X, K):\n    return torch.conv2d(X, K)"]),
    ("from-import alias", ["from torch.nn.functional import conv2d as c", "def corr2d(X, K):\n    return c(X, K)"]),
    ("nn.Conv2d", [SETUP, "def corr2d(X, K):\n    layer = nn.Conv2d(1, 1, K.shape)\n    return layer(X)"]),
    ("from torch.nn import functional", ["from torch.nn import functional as fn", "def corr2d(X, K):\n    return fn.conv2d(X, K)"]),
    ("constant getattr", [SETUP + "import torch.nn.functional as F", "def corr2d(X, K):\n    return getattr(F, 'conv2d')(X, K)"]),
    ("alias inside the function", [SETUP, "def corr2d(X, K):\n    import torch.nn.functional as G\n    conv = G.conv2d\n    return conv(X, K)"]),
    ("module-level alias", [SETUP + "import torch.nn.functional as F\nconv = F.conv2d", "def corr2d(X, K):\n    return conv(X, K)"]),
    ("a helper of the notebook", [SETUP + "import torch.nn.functional as F",
                                  "def _helper(X, K):\n    return F.conv2d(X, K)",
                                  "def corr2d(X, K):\n    return _helper(X, K)"]),
    ("a lambda", [SETUP + "import torch.nn.functional as F\nslide = lambda X, K: F.conv2d(X, K)",
                  "def corr2d(X, K):\n    return slide(X, K)"]),
    ("unfold method", [SETUP, "def corr2d(X, K):\n    kh, kw = K.shape\n    return (X.unfold(0, kh, 1).unfold(1, kw, 1) * K).sum((-1, -2))"]),
    ("star import", ["from torch.nn.functional import *", "def corr2d(X, K):\n    return conv2d(X, K)"]),
    ("scipy", ["from scipy import signal", "def corr2d(X, K):\n    return signal.correlate2d(X, K, mode='valid')"]),
    ("max_pool2d", [SETUP + "import torch.nn.functional as F", "def corr2d(X, K):\n    return F.max_pool2d(X, 2)"]),
    ("magic lines around", ["%matplotlib inline\nimport torch.nn.functional as F", "def corr2d(X, K):\n    return F.conv2d(X, K)"]),
]


@pytest.mark.parametrize("cells", [c for _, c in FORBIDDEN], ids=[n for n, _ in FORBIDDEN])
def test_forbidden_uses_are_found_through_aliases(cells):
    found = use(cells)
    assert found is not None
    message = found.message({"corr2d": len(cells) - 1})
    assert "write the loops yourself" in message and "line" in message


INNOCENT = [
    ("a variable named conv2d", [SETUP, "def corr2d(X, K):\n    conv2d = torch.zeros(2, 2)\n    return conv2d"]),
    ("its own function named conv2d", [SETUP, "def conv2d(X, K):\n    return X", "def corr2d(X, K):\n    return conv2d(X, K)"]),
    ("a comment and a string", [SETUP, "def corr2d(X, K):\n    # same as F.conv2d, nn.Conv2d\n    s = 'F.conv2d'\n    return torch.zeros(1)"]),
    ("torch.zeros and friends", [SETUP, "def corr2d(X, K):\n    Y = torch.zeros((2, 2))\n    return Y.sum() + torch.tensor(1.0)"]),
    ("F.conv2d in another cell, not called", [SETUP + "import torch.nn.functional as F",
                                              "print(F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)))",
                                              "def corr2d(X, K):\n    return X"]),
    ("a parameter named F", ["import torch.nn.functional as F", "def corr2d(X, K, F=None):\n    return F.conv2d(X)"]),
    ("a local object with an unfold attribute, not called", [SETUP, "def corr2d(X, K):\n    unfold = 3\n    return X * unfold"]),
]


@pytest.mark.parametrize("cells", [c for _, c in INNOCENT], ids=[n for n, _ in INNOCENT])
def test_innocent_look_alikes_are_not_uses(cells):
    assert use(cells) is None


def test_unparseable_cells_are_skipped():
    assert use(["def broken(:\n", SETUP, "def corr2d(X, K):\n    return X"]) is None
