"""hw6 graded end to end: the solution, the stub, each typical mistake, data and device handling.

Gradings here use the "quick" generated profile (GRADER_HW6_PROFILE=quick: 1,200 training
images, its own calibrated threshold) to keep the suite short; `grade solutions/hw6.ipynb`
uses the full profile. They start the kernel like a single `grade` command (fork=False), the
path whose memory settings let a kernel train under the sandbox's RLIMIT_AS.
"""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest

from grader.checks import GradingContext
from grader.datasets import cifar
from tests.helpers import (
    ROOT,
    assert_loses_exactly,
    assert_stub_scores_zero,
    by_name,
    grade,
    lost,
    solution,
    stub,
    with_cells,
)

ARCH = "CIFARNet: 145,578 parameters, output (N, 10)"
SAME = "CIFARNet: the notes' layers in order"
LOSS = "train: the loss goes down"
ACC = "train: held-out accuracy reaches the threshold"
MODE = "train: trains the given net in training mode, on the device"
EVAL = "evaluate_accuracy: agrees with the grader's measurement"
ALL = {ARCH, SAME, LOSS, ACC, MODE, EVAL}

TRAIN_OK = """
def train(net, train_iter, num_epochs, lr, device):
    net.to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr={lr})
    for epoch in range(num_epochs):
        {train_mode}
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            loss = loss_fn(net(X), y)
            optimizer.zero_grad()
            loss.backward()
            {step}
    return net
"""


def train_cell(lr: str = "lr", train_mode: str = "net.train()", step: str = "optimizer.step()") -> str:
    return TRAIN_OK.format(lr=lr, train_mode=train_mode, step=step)


@pytest.fixture(autouse=True)
def quick_profile(monkeypatch):
    monkeypatch.setenv("GRADER_HW6_PROFILE", "quick")
    monkeypatch.delenv("GRADER_DATA_ROOT", raising=False)


def load_checks():
    spec = importlib.util.spec_from_file_location("hw6_checks_test", ROOT / "assignments" / "hw6" / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hw6(nb, tmp_path, **options):
    return grade(nb, tmp_path, fork=False, device="cpu", **options)


# ---------------------------------------------------------------- data

def test_generated_set_is_cifar10_on_disk_and_loads_through_torchvision(tmp_path):
    import torchvision

    checksums = cifar.write_generated(tmp_path, seed=3, n_train=250, n_test=40)
    folder = tmp_path / cifar.BASE_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted([*cifar.TRAIN_FILES, "test_batch", "batches.meta"])
    # the web page's unpickle (bytes keys, as Python 2 wrote them) and torchvision's (latin1) both read it
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert raw[b"data"].dtype == np.uint8 and raw[b"data"].shape == (50, 3072)
    assert len(raw[b"labels"]) == len(raw[b"filenames"]) == 50 and raw[b"batch_label"] == b"training batch 1 of 5"
    with open(folder / "batches.meta", "rb") as f:
        assert pickle.load(f, encoding="latin1")["label_names"] == list(cifar.LABEL_NAMES)

    train = cifar.open_cifar10(str(tmp_path), True, checksums, torchvision.transforms.ToTensor())
    test = cifar.open_cifar10(str(tmp_path), False, checksums)
    assert isinstance(train, torchvision.datasets.CIFAR10)
    assert len(train) == 250 and len(test) == 40 and train.classes == list(cifar.LABEL_NAMES)
    image, label = train[0]
    assert image.shape == (3, 32, 32) and 0 <= float(image.min()) <= float(image.max()) <= 1 and 0 <= label < 10
    # the pixels torchvision hands out are the ones written (planes R, G, B, row-major)
    images, labels = cifar.synthesize(250, 3, 0.15)
    assert np.array_equal(train.data, images.transpose(0, 2, 3, 1)) and train.targets == labels.tolist()
    # deterministic, and the stock class still insists on the original files' md5s
    assert cifar.write_generated(tmp_path / "again", seed=3, n_train=250, n_test=40) == checksums
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        torchvision.datasets.CIFAR10(str(tmp_path), train=True)
    # the integrity check is live for generated files too: a changed byte is caught
    data = bytearray((folder / "data_batch_3").read_bytes())
    data[-10] ^= 1
    (folder / "data_batch_3").write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        cifar.open_cifar10(str(tmp_path), True, checksums)


def test_classes_differ_by_colour_and_texture_under_noise():
    images, labels = cifar.synthesize(2000, 1, 0.15)
    assert np.bincount(labels).tolist() == [200] * 10
    # nearest mean colour: far above chance, not perfect
    colour = images.reshape(len(images), 3, -1).mean(axis=2)
    means = np.stack([colour[labels == k].mean(axis=0) for k in range(10)])
    nearest = np.argmin(((colour[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert 0.5 < (nearest == labels).mean() < 1.0
    # texture: within an image, brightness varies along the class's grating far beyond the pixel noise
    grey = images.astype(np.float64).mean(axis=1)
    assert grey.std(axis=(1, 2)).mean() > 15
    # noise: two images of one class are never alike
    same = images[labels == 0]
    assert np.abs(same[0].astype(int) - same[1].astype(int)).mean() > 10


def test_prepare_keeps_the_held_out_split_out_of_the_kernels_folder(tmp_path):
    checks = load_checks()
    prepared = checks.prepare(GradingContext("cpu", tmp_path, None, 0))
    facts, inputs = prepared.facts, prepared.inputs
    assert facts["profile"] == "quick" and prepared.timeouts == {"train": 60.0}
    written = {p.name for p in (tmp_path / "grader-data" / cifar.BASE_FOLDER).iterdir()}
    assert written == {*cifar.TRAIN_FILES, "test_batch", "batches.meta"}
    assert not any(isinstance(v, np.ndarray) for v in inputs.values())
    train_x, _ = cifar.load_arrays(tmp_path / "grader-data", True, inputs["checksums"])
    check_x, check_y = cifar.load_arrays(tmp_path / "grader-data", False, inputs["checksums"])
    heldout_x, _ = facts["heldout"]
    assert np.array_equal(check_x, facts["check"][0]) and np.array_equal(check_y, facts["check"][1])
    kernel_images = {x.tobytes() for x in np.concatenate([train_x, check_x])}
    assert not any(x.tobytes() in kernel_images for x in heldout_x)
    assert checks.prepare(GradingContext("cuda", tmp_path / "gpu", None, 0)).timeouts == {"train": 60.0}


def test_real_cifar10_under_data_root_is_used_and_its_test_batch_held_out(tmp_path, monkeypatch):
    """Real CIFAR-10 cannot be downloaded here: stand in for it by giving torchvision's table the md5s
    of a generated set, so the `--data-root` path runs exactly as it would on the real files."""
    import torchvision

    checks = load_checks()
    real = tmp_path / "datasets"
    sums = cifar.write_generated(real, seed=11, n_train=1500, n_test=300)
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[n, sums[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [["test_batch", sums["test_batch"]]])
    monkeypatch.setattr(cls, "meta", dict(cls.meta, md5=sums["batches.meta"]))
    monkeypatch.setitem(checks.PROFILES["cifar10"], "n_train", 1000)
    prepared = checks.prepare(GradingContext("cpu", tmp_path / "scratch", real, 0))
    assert prepared.facts["profile"] == "cifar10" and str(real) in prepared.facts["data"]
    assert prepared.inputs["n_train"] == 1000
    real_test = cifar.load_arrays(real, False)
    assert np.array_equal(prepared.facts["heldout"][0], real_test[0])
    kernel_test = cifar.load_arrays(tmp_path / "scratch" / "grader-data", False, prepared.inputs["checksums"])
    assert len(kernel_test[1]) == 1000 and not np.array_equal(kernel_test[0][:300], real_test[0])


def test_a_data_root_that_is_not_the_original_cifar10_is_refused(tmp_path):
    cifar.write_generated(tmp_path / "fake", seed=1, n_train=100, n_test=20)
    report = hw6(solution("hw6"), tmp_path, data_root=tmp_path / "fake")
    assert report.status == "error" and report.score == 0
    assert "is not the original CIFAR-10" in report.errors[0], report.errors


def test_a_data_root_without_cifar10_falls_back_to_generated_data_and_says_so(tmp_path):
    checks = load_checks()
    (tmp_path / "other").mkdir()
    prepared = checks.prepare(GradingContext("cpu", tmp_path / "scratch", tmp_path / "other", 0))
    assert prepared.facts["profile"] == "quick"
    assert f"no cifar-10-batches-py under {tmp_path / 'other'}" in prepared.facts["data"]


def test_cli_refuses_a_data_root_that_is_not_a_folder(tmp_path, capsys):
    from grader.cli import main

    assert main([str(ROOT / "solutions" / "hw6.ipynb"), "--data-root", str(tmp_path / "missing")]) == 2
    assert "--data-root" in capsys.readouterr().err


def test_device_auto_picks_cuda_when_present(monkeypatch):
    from grader import device

    monkeypatch.setattr(device, "cuda_present", lambda: True)
    assert device.resolve_device("auto") == "cuda"
    monkeypatch.setattr(device, "cuda_present", lambda: False)
    assert device.resolve_device("auto") == "cpu"
    with pytest.raises(device.DeviceUnavailable):
        device.resolve_device("cuda")


# ---------------------------------------------------------------- grading

def test_solution_gets_full_marks_on_cpu(tmp_path):
    report = hw6(solution("hw6"), tmp_path)
    assert report.status == "graded" and report.device == "cpu"
    assert report.score == report.max_score == 12, [(t.name, t.message) for t in report.tests if t.status != "passed"]
    assert "held-out accuracy" in by_name(report)[ACC].message and "on cpu" in by_name(report)[ACC].message


def test_stub_gets_zero_without_crashing(tmp_path):
    report = hw6(stub("hw6"), tmp_path)
    assert_stub_scores_zero(report)


# (id, replaced cells, checks that must lose points, a phrase the student must read)
MISTAKES = [
    ("optimizer never steps", {"train": train_cell(step="pass")}, {LOSS, ACC}, "optimizer.step()"),
    ("returns at once", {"train": "def train(net, train_iter, num_epochs, lr, device):\n    return net"},
     {LOSS, ACC, MODE}, "without drawing a single batch"),
    ("the notes' undefined learning rate", {"train": train_cell(lr="learning_rate")},
     {LOSS, ACC, MODE}, "name 'learning_rate' is not defined"),
    ("no net.train()", {"train": train_cell(train_mode="pass")}, {MODE}, "net.train()"),
    ("wrong architecture: one linear layer",
     {"CIFARNet": """
        class CIFARNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = nn.Sequential(
                    nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2), nn.MaxPool2d(2),
                    nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 10))

            def forward(self, x):
                return self.model(x)
        """},
     {ARCH, SAME, LOSS, ACC, EVAL}, "expected 145,578"),
    ("wrong architecture: no padding",
     {"CIFARNet": """
        class CIFARNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = nn.Sequential(
                    nn.Conv2d(3, 32, 5), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5), nn.MaxPool2d(2),
                    nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 64), nn.Linear(64, 10))

            def forward(self, x):
                return self.model(x)
        """},
     ALL, "padding=2"),
    ("evaluate_accuracy returns the count",
     {"evaluate_accuracy": """
        def evaluate_accuracy(net, data_iter, device):
            net.eval()
            with torch.no_grad():
                return sum(float((net(X.to(device)).argmax(dim=1) == y.to(device)).sum()) for X, y in data_iter)
        """},
     {EVAL}, "number of correct predictions"),
]


@pytest.mark.parametrize("replace,must_lose,phrase", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_typical_mistake_loses_exactly_its_checks(tmp_path, replace, must_lose, phrase):
    report = hw6(with_cells(solution("hw6"), replace=replace), tmp_path)
    assert_loses_exactly(report, must_lose, phrase)


# ---------------------------------------------------------------- CUDA only

def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_solution_gets_full_marks_on_cuda(tmp_path):
    report = grade(solution("hw6"), tmp_path, fork=False, device="auto")
    assert report.device == "cuda"
    assert report.score == report.max_score, [(t.name, t.message) for t in report.tests if t.status != "passed"]


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_test_batches_left_on_the_cpu_fail_on_cuda(tmp_path):
    evaluate = """
        def evaluate_accuracy(net, data_iter, device):
            net.eval()
            correct, total = 0, 0
            with torch.no_grad():
                for X, y in data_iter:
                    correct += (net(X).argmax(dim=1) == y).sum().item()
                    total += y.numel()
            return correct / total
        """
    report = grade(with_cells(solution("hw6"), replace={"evaluate_accuracy": evaluate}), tmp_path, fork=False,
                   device="cuda")
    assert lost(report) == {EVAL}
    assert "X, y = X.to(device), y.to(device)" in by_name(report)[EVAL].message


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_a_model_left_on_the_cpu_fails_on_cuda(tmp_path):
    train = train_cell().replace("    net.to(device)\n", "").replace("X, y = X.to(device), y.to(device)", "pass")
    report = grade(with_cells(solution("hw6"), replace={"train": train}), tmp_path, fork=False, device="cuda")
    assert MODE in lost(report) and "net.to(device)" in by_name(report)[MODE].message
