"""hw6: each of CIFARNet, evaluate_accuracy and train graded on its own.

Every typical mistake of the contract (docs: assignments.md's hw6 table) comes in several hidden
variants, different ways of making the same mistake; each must lose the points of its own
check(s) and keep every other. Most run the probes in this process (`judge_in_process`: the
marked cells executed as in the kernel, the probe functions and judges exactly as graded), so
the suite stays fast; a few full gradings in a sandboxed kernel show the same end to end.
Training uses the "quick" generated profile (GRADER_HW6_PROFILE=quick: 1,200 training images,
its own calibrated threshold); `grade solutions/hw6.ipynb` uses the full profile.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

from grader import probe_runtime
from grader.checks import GradingContext, Prepared
from grader.datasets import cifar
from grader.probe import ProbeOutcome, probe_source, read_result, write_inputs
from grader.reference import reference_namespace
from grader.report import CheckResult
from grader.scoring import Context, score_check
from tests.helpers import (
    ROOT,
    assert_full_marks,
    assert_loses_exactly,
    assert_stub_scores_zero,
    by_name,
    grade,
    lost,
    solution,
    stub,
    with_cells,
    write,
)

ARCH = "CIFARNet: 145,578 parameters, output (N, 10)"
SAME = "CIFARNet: the notes' layers in order"
GRAD = "CIFARNet: a training step reaches every parameter"
VALUE = "evaluate_accuracy: the fraction correct over all examples"
EVAL_MODE = "evaluate_accuracy: the net in eval mode"
NO_GRAD = "evaluate_accuracy: no gradients recorded"
LEARN = "train: the trained net reaches the held-out accuracy"
MODE = "train: trains the given net in training mode, on the device"
NET_CHECKS = {ARCH, SAME, GRAD}
EVAL_CHECKS = {VALUE, EVAL_MODE, NO_GRAD}
TRAIN_CHECKS = {LEARN, MODE}


@pytest.fixture(autouse=True)
def quick_profile(monkeypatch):
    monkeypatch.setenv("GRADER_HW6_PROFILE", "quick")
    monkeypatch.delenv("GRADER_DATA_ROOT", raising=False)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Training in this process with one thread, as a bulk-graded kernel on a busy machine: two
    OpenMP threads spinning for one free core made a training run several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def load_checks():
    spec = importlib.util.spec_from_file_location("hw6_checks_test", ROOT / "assignments" / "hw6" / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hw6(nb, tmp_path, **options):
    """A full grading, with the kernel started as a single `grade` command starts it."""
    return grade(nb, tmp_path, fork=False, device="cpu", **options)


def judge_in_process(replace: dict[str, str], probes: set[str], tmp_path: Path, seed: int = 1,
                     outcomes: dict[str, ProbeOutcome] | None = None) -> dict[str, CheckResult]:
    """The checks of `probes` on the solution with `replace`d cells, run in this process.

    The marked cells run in a fresh namespace (as the kernel runs them); each probe gets the
    inputs the pipeline would give it and writes the same result file; the judges score it.
    `outcomes`, if given, receives each probe's outcome and (under "facts") what the judges knew.
    """
    checks = load_checks()
    ns = reference_namespace(write(with_cells(solution("hw6"), replace=replace), tmp_path / "variant.ipynb"))
    # the data set only where it is used (the other probes take fixed inputs of their own)
    prepared = checks.prepare(GradingContext("cpu", tmp_path, None, seed)) if "train" in probes else Prepared()
    facts = ProbeOutcome("ok", prepared.facts)
    ctx = Context(cell_of={}, cells={}, reference_available=True)
    results = {}
    for probe in checks.ASSIGNMENT.probes:
        if probe.name not in probes:
            continue
        inputs = probe.make_inputs(seed) | {"device": "cpu"} | prepared.inputs | prepared.probe_inputs.get(probe.name, {})
        in_path, out_path = tmp_path / f"{probe.name}.in", tmp_path / f"{probe.name}.out"
        write_inputs(in_path, inputs)
        probe_runtime.run_probe(ns, probe_source(probe.fn, probe.helpers), probe.fn.__name__, list(probe.uses),
                                str(in_path), str(out_path), probe.seed(seed))
        outcome = read_result(out_path)
        if outcomes is not None:
            outcomes.update({probe.name: outcome, "facts": facts})
        for check in checks.ASSIGNMENT.checks:
            if check.probe.name == probe.name:
                results[check.name] = score_check(check, outcome, facts, ctx)
    return results


def assert_loses_own(results: dict[str, CheckResult], must_lose: set[str], phrase: str) -> None:
    lost_here = {name for name, r in results.items() if r.score < r.max_score}
    assert lost_here == must_lose, {name: r.message for name, r in results.items() if r.score < r.max_score}
    messages = " ".join(results[name].message for name in must_lose)
    assert phrase in messages, messages


def test_each_piece_has_a_probe_that_calls_only_that_piece():
    """Independence by construction: no probe calls two of the student's pieces."""
    checks = load_checks()
    uses = {check.name: check.probe.uses for check in checks.ASSIGNMENT.checks}
    assert {n for n, u in uses.items() if u == ("CIFARNet",)} == NET_CHECKS
    assert {n for n, u in uses.items() if u == ("evaluate_accuracy",)} == EVAL_CHECKS
    assert {n for n, u in uses.items() if u == ("train",)} == TRAIN_CHECKS
    assert checks.ASSIGNMENT.max_score == 12


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


def test_prepare_sends_the_training_set_to_the_train_probe_only_with_renamed_classes(tmp_path):
    checks = load_checks()
    prepared = checks.prepare(GradingContext("cpu", tmp_path, None, 0))
    assert prepared.facts["profile"] == "quick" and prepared.timeouts == {"train": 180.0}
    # nothing in the kernel's folder, nothing in every probe's inputs: only the train probe gets data
    assert list(tmp_path.iterdir()) == []
    assert set(prepared.probe_inputs) == {"train"}
    assert not any(isinstance(v, np.ndarray) for v in prepared.inputs.values())
    train = prepared.probe_inputs["train"]
    images, labels = cifar.synthesize(1200, 6, 0.15)
    assert np.array_equal(train["train_images"], images)
    rename = checks.label_renaming(0)
    assert sorted(rename.tolist()) == list(range(10)) and not np.any(rename == np.arange(10))
    assert np.array_equal(train["train_labels"], rename[labels])
    # the held-out split: renamed alike, never among the training images, never sent
    heldout_x, heldout_y = prepared.facts["heldout"]
    assert np.array_equal(heldout_y, rename[cifar.synthesize(1000, 60_606, 0.15)[1]])
    kernel_images = {x.tobytes() for x in images}
    assert not any(x.tobytes() in kernel_images for x in heldout_x)
    # each submission its own renaming; everyone the same initial weights
    assert any(not np.array_equal(checks.label_renaming(s), rename) for s in range(1, 5))
    assert train["init_params"].shape == (145_578,) and np.array_equal(train["init_params"], checks.initial_parameters())
    assert checks.prepare(GradingContext("cuda", tmp_path / "gpu", None, 0)).timeouts == {"train": 180.0}


def test_the_shipped_initial_weights_are_torchs_from_the_seed_and_need_no_torch_to_prepare(tmp_path):
    """`train` starts from weights drawn once and shipped: preparing a grading imports no torch
    in the grader, so one grading's process tree holds torch once at a time (the fork server's,
    then the grader's to score)."""
    import subprocess
    import sys

    checks = load_checks()
    assert np.array_equal(checks.initial_parameters(), checks.draw_initial_parameters())
    net = checks.grader_cifarnet()
    assert [(n, tuple(p.shape)) for n, p in net.named_parameters()] == checks.parameter_shapes()
    code = ("import sys, importlib.util, pathlib\n"
            "from grader.checks import GradingContext\n"
            f"spec = importlib.util.spec_from_file_location('hw6c', {str(ROOT / 'assignments' / 'hw6' / 'checks.py')!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            f"m.prepare(GradingContext('cpu', pathlib.Path({str(tmp_path)!r}), None, 3))\n"
            "assert m.as_state(m.initial_parameters())['7.weight'].shape == (64, 1024)\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


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
    real_train, real_test = cifar.load_arrays(real, True), cifar.load_arrays(real, False)
    rename = checks.label_renaming(0)
    train = prepared.probe_inputs["train"]
    assert np.array_equal(train["train_images"], real_train[0][:1000])
    assert np.array_equal(train["train_labels"], rename[real_train[1][:1000]])
    assert np.array_equal(prepared.facts["heldout"][0], real_test[0])
    assert np.array_equal(prepared.facts["heldout"][1], rename[real_test[1]])


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


# ---------------------------------------------------------------- CIFARNet, on its own

def net_cell(layers: str = "", forward: str = "return self.model(x)", init: str = "") -> str:
    layers = layers or """
            nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 64), nn.Linear(64, 10)"""
    return f"""
class CIFARNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential({layers})
        {init}

    def forward(self, x):
        {forward}
"""


EXPLICIT_NET = """
class CIFARNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(1024, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(self.conv1(x))
        x = self.pool(self.conv2(x))
        x = self.pool(self.conv3(x))
        {flatten}
        return self.fc2(self.fc1(x))
"""

NO_PADDING = """
    nn.Conv2d(3, 32, 5), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 64), nn.Linear(64, 10)"""
ONE_LINEAR = """
    nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 10)"""
NO_FLATTEN = """
    nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2), nn.Linear(1024, 64), nn.Linear(64, 10)"""
RELUS = """
    nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(),
    nn.MaxPool2d(2), nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10)"""
SOFTMAX_OUT = """
    nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 5, padding=2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 64), nn.Linear(64, 10),
    nn.Softmax(dim=1)"""

# (id, CIFARNet cell, checks that must lose points, a phrase the student must read)
NET_MISTAKES = [
    ("no Flatten in the Sequential", net_cell(NO_FLATTEN), NET_CHECKS, "Flatten()"),
    ("no flatten in an explicit forward", EXPLICIT_NET.format(flatten="pass"), NET_CHECKS, "Flatten()"),
    ("torch.flatten over the batch too", EXPLICIT_NET.format(flatten="x = torch.flatten(x)"), NET_CHECKS, "Flatten()"),
    ("view(-1) over the batch too", EXPLICIT_NET.format(flatten="x = x.view(-1)"), NET_CHECKS, "Flatten()"),
    ("no padding", net_cell(NO_PADDING), NET_CHECKS, "padding=2"),
    ("one linear layer", net_cell(ONE_LINEAR), {ARCH, SAME}, "expected 145,578"),
    ("a ReLU after every layer", net_cell(RELUS), {SAME}, "output differs from the notes' layers"),
    ("softmax on the output", net_cell(SOFTMAX_OUT), {SAME}, "probabilities (a softmax at the end)"),
    ("Tanh between the linear layers", net_cell(ONE_LINEAR.replace("nn.Linear(1024, 10)",
                                                                    "nn.Linear(1024, 64), nn.Tanh(), nn.Linear(64, 10)")),
     {SAME}, "output differs from the notes' layers"),
    ("detach in forward", net_cell(forward="return self.model[7:](self.model[:7](x).detach())"), {GRAD},
     "cannot update model.0.weight"),
    ("forward under no_grad", net_cell(forward="with torch.no_grad():\n            return self.model(x)"), {GRAD},
     "carries no gradient"),
    ("frozen first layer", net_cell(init="self.model[0].weight.requires_grad_(False)"), {GRAD},
     "requires_grad=False"),
    ("zero initialisation", net_cell(init="for p in self.parameters():\n            nn.init.zeros_(p)"), {GRAD},
     "every weight starts at zero"),
]

NET_ALTERNATIVES = [
    ("explicit layers and view", EXPLICIT_NET.format(flatten="x = x.view(x.shape[0], -1)")),
    ("explicit layers and torch.flatten(x, 1)", EXPLICIT_NET.format(flatten="x = torch.flatten(x, 1)")),
    ("Sequential as the class", "class CIFARNet(nn.Sequential):\n    def __init__(self):\n        super().__init__("
     + NO_FLATTEN.replace("nn.Linear(1024, 64)", "nn.Flatten(), nn.Linear(1024, 64)") + ")"),
]


@pytest.mark.parametrize("cell,must_lose,phrase", [m[1:] for m in NET_MISTAKES], ids=[m[0] for m in NET_MISTAKES])
def test_a_cifarnet_mistake_costs_only_cifarnet_checks(tmp_path, cell, must_lose, phrase):
    results = judge_in_process({"CIFARNet": cell}, {"architecture", "evaluate"}, tmp_path)
    assert_loses_own(results, must_lose, phrase)


@pytest.mark.parametrize("cell", [m[1] for m in NET_ALTERNATIVES], ids=[m[0] for m in NET_ALTERNATIVES])
def test_another_way_to_write_cifarnet_earns_its_points(tmp_path, cell):
    assert_loses_own(judge_in_process({"CIFARNet": cell}, {"architecture"}, tmp_path), set(), "")


# ---------------------------------------------------------------- evaluate_accuracy, on its own

def evaluate_cell(body: str, header: str = "") -> str:
    return f"{header}\ndef evaluate_accuracy(net, data_iter, device):\n" + "\n".join(
        "    " + line for line in body.strip("\n").splitlines())


LOOP = """
for X, y in data_iter:
    X, y = X.to(device), y.to(device)
    correct += (net(X).argmax(dim=1) == y).sum().item()
    total += y.numel()
"""


def indent(text: str, by: int = 4) -> str:
    return "\n".join(" " * by + line for line in text.strip("\n").splitlines())


EVAL_MISTAKES = [
    # averaging per-batch accuracies
    ("mean of a list of batch accuracies", evaluate_cell("""
net.eval()
accs = []
with torch.no_grad():
    for X, y in data_iter:
        accs.append((net(X.to(device)).argmax(1) == y.to(device)).float().mean().item())
return sum(accs) / len(accs)"""), {VALUE}, "mean of the per-batch accuracies"),
    ("np.mean of batch accuracies", evaluate_cell("""
import numpy as np
net.eval()
with torch.no_grad():
    return float(np.mean([(net(X.to(device)).argmax(1) == y.to(device)).float().mean().item() for X, y in data_iter]))"""),
     {VALUE}, "mean of the per-batch accuracies"),
    ("running mean over batches", evaluate_cell("""
net.eval()
acc, i = 0.0, 0
with torch.no_grad():
    for X, y in data_iter:
        batch = (net(X.to(device)).argmax(1) == y.to(device)).float().mean().item()
        acc, i = (acc * i + batch) / (i + 1), i + 1
return acc"""), {VALUE}, "mean of the per-batch accuracies"),
    ("torch.stack(...).mean()", evaluate_cell("""
net.eval()
with torch.no_grad():
    accs = [(net(X.to(device)).argmax(1) == y.to(device)).float().mean() for X, y in data_iter]
return torch.stack(accs).mean().item()"""), {VALUE}, "mean of the per-batch accuracies"),
    ("the count", evaluate_cell("net.eval()\ncorrect, total = 0, 0\nwith torch.no_grad():\n" + indent(LOOP)
                                + "\nreturn correct"), {VALUE}, "the number of correct predictions"),
    ("a percentage", evaluate_cell("net.eval()\ncorrect, total = 0, 0\nwith torch.no_grad():\n" + indent(LOOP)
                                   + "\nreturn 100 * correct / total"), {VALUE}, "a percentage"),
    # no eval mode
    ("no net.eval()", evaluate_cell("correct, total = 0, 0\nwith torch.no_grad():\n" + indent(LOOP)
                                    + "\nreturn correct / total"), {EVAL_MODE}, "call net.eval()"),
    ("net.eval without parentheses", evaluate_cell("net.eval\ncorrect, total = 0, 0\nwith torch.no_grad():\n"
                                                   + indent(LOOP) + "\nreturn correct / total"),
     {EVAL_MODE}, "call net.eval()"),
    ("net.eval() after the loop", evaluate_cell("correct, total = 0, 0\nwith torch.no_grad():\n" + indent(LOOP)
                                                + "\nnet.eval()\nreturn correct / total"), {EVAL_MODE}, "call net.eval()"),
    ("net.training = False on the top module", evaluate_cell("net.training = False\ncorrect, total = 0, 0\n"
                                                             "with torch.no_grad():\n" + indent(LOOP)
                                                             + "\nreturn correct / total"),
     {EVAL_MODE}, "call net.eval()"),
    # no torch.no_grad()
    ("no torch.no_grad()", evaluate_cell("net.eval()\ncorrect, total = 0, 0\n" + LOOP + "return correct / total"),
     {NO_GRAD}, "with torch.no_grad():"),
    ("torch.no_grad() as a bare statement", evaluate_cell("net.eval()\ntorch.no_grad()\ncorrect, total = 0, 0\n"
                                                          + LOOP + "return correct / total"),
     {NO_GRAD}, "with torch.no_grad():"),
    ("enable_grad instead", evaluate_cell("net.eval()\ncorrect, total = 0, 0\nwith torch.enable_grad():\n"
                                          + indent(LOOP) + "\nreturn correct / total"), {NO_GRAD}, "with torch.no_grad():"),
    ("no_grad around the counting only", evaluate_cell("""
net.eval()
correct, total = 0, 0
for X, y in data_iter:
    y_hat = net(X.to(device))
    with torch.no_grad():
        correct += (y_hat.argmax(dim=1) == y.to(device)).sum().item()
        total += y.numel()
return correct / total"""), {NO_GRAD}, "with torch.no_grad():"),
    # two mistakes in one function: each costs its own check
    ("no eval, no no_grad", evaluate_cell("correct, total = 0, 0\n" + LOOP + "return correct / total"),
     {EVAL_MODE, NO_GRAD}, "call net.eval()"),
]

EVAL_ALTERNATIVES = [
    ("inference_mode", evaluate_cell("net.eval()\ncorrect, total = 0, 0\nwith torch.inference_mode():\n"
                                     + indent(LOOP) + "\nreturn correct / total")),
    ("no_grad decorator and train(False)", evaluate_cell(
        "net.train(False)\ncorrect, total = 0, 0\n" + LOOP + "return correct / total", header="@torch.no_grad()")),
    ("a 0-d tensor over the dataset's length", evaluate_cell("""
net.eval()
correct = torch.tensor(0.0)
with torch.no_grad():
    for X, y in data_iter:
        correct += (net(X.to(device)).argmax(1) == y.to(device)).float().sum().cpu()
return correct / len(data_iter.dataset)""")),
]


@pytest.mark.parametrize("cell,must_lose,phrase", [m[1:] for m in EVAL_MISTAKES], ids=[m[0] for m in EVAL_MISTAKES])
def test_an_evaluate_accuracy_mistake_costs_only_its_own_check(tmp_path, cell, must_lose, phrase):
    results = judge_in_process({"evaluate_accuracy": cell}, {"architecture", "evaluate"}, tmp_path)
    assert_loses_own(results, must_lose, phrase)


@pytest.mark.parametrize("cell", [m[1] for m in EVAL_ALTERNATIVES], ids=[m[0] for m in EVAL_ALTERNATIVES])
def test_another_way_to_write_evaluate_accuracy_earns_its_points(tmp_path, cell):
    assert_loses_own(judge_in_process({"evaluate_accuracy": cell}, {"evaluate"}, tmp_path), set(), "")


def test_the_evaluation_split_tells_every_wrong_aggregate_from_the_fraction():
    checks = load_checks()
    data = checks.evaluate_data()
    batch = checks.EVAL_BATCH
    logits = data["eval_x"].reshape(len(data["eval_x"]), -1).astype(np.float64) @ data["eval_w"].T.astype(np.float64)
    logits += data["eval_b"]
    ordered = np.sort(logits, axis=1)
    # the labels are what the grader's float64 arithmetic says, by margins float32 cannot flip
    assert (ordered[:, -1] - ordered[:, -2]).min() > 0.2 and (ordered[:, -2] - ordered[:, -3]).min() > 0.2
    seen = []
    for call in (1, 2):
        correct = data[f"correct{call}"]
        assert np.array_equal(logits.argmax(1) == data[f"eval_y{call}"], correct)
        sizes = [len(correct[s:s + batch]) for s in range(0, len(correct), batch)]
        assert sizes[-1] < sizes[0]  # a smaller last batch
        ways = checks._aggregates(correct)
        fraction = ways.pop("fraction")
        wrong = [*ways.values(), correct[:batch].mean(), correct.sum() / (batch * len(sizes))]
        assert all(abs(w - fraction) > 0.05 for w in wrong)
        seen.append(fraction)
    # the second call's answer in each mode, under each way of aggregating, is told apart
    for way in ("fraction", "batch mean", "count", "percentage"):
        correct = data["correct2"]
        answers = [checks._aggregates(c)[way] for c in (correct, ~correct, np.zeros_like(correct))]
        answers.append(checks._aggregates(data["correct1"])[way])  # a first answer handed back again
        assert min(abs(a - b) for i, a in enumerate(answers) for b in answers[i + 1:]) > 0.03  # judged within 1e-4


FORGE = """
import sys
record = sys._getframe(1).f_locals.get("record")
if isinstance(record, dict):
    record["training"] = record["grad"] = 0
"""


@pytest.mark.parametrize("cell,must_lose", [
    (evaluate_cell("correct, total = 0, 0\n" + LOOP + FORGE + "return correct / total"), {EVAL_MODE, NO_GRAD}),
    (evaluate_cell("net.eval()\ncorrect, total = 0, 0\n" + LOOP + FORGE + "return correct / total"), {NO_GRAD}),
    (evaluate_cell("correct, total = 0, 0\nwith torch.no_grad():\n" + indent(LOOP) + FORGE + "return correct / total"),
     {EVAL_MODE}),
], ids=["neither", "no no_grad", "no eval"])
def test_records_forged_through_stack_frames_do_not_hide_the_mode(tmp_path, cell, must_lose):
    """The mode is read from the answers of the grader's instrumented net too, not only from
    records in the kernel that the student's code can reach."""
    results = judge_in_process({"evaluate_accuracy": cell}, {"evaluate"}, tmp_path)
    assert_loses_own(results, must_lose, "")


# ---------------------------------------------------------------- train, on its own

def train_cell(lr: str = "lr", train_mode: str = "net.train()", step: str = "optimizer.step()",
               before_loop: str = "", after_epoch: str = "", make_net: str = "", ret: str = "return net") -> str:
    return f"""
def train(net, train_iter, num_epochs, lr, device):
    {make_net}
    net.to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr={lr})
    {before_loop}
    for epoch in range(num_epochs):
        {train_mode}
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            loss = loss_fn(net(X), y)
            optimizer.zero_grad()
            loss.backward()
            {step}
        {after_epoch}
    {ret}
"""


TRAIN_MISTAKES = [
    ("optimizer never steps", train_cell(step="pass"), {LEARN}, "optimizer.step()"),
    ("zero_grad between backward and step", train_cell(step="optimizer.zero_grad()\n            optimizer.step()"),
     {LEARN}, "the weights did not change"),
    ("optimizer over another net's parameters",
     train_cell().replace("SGD(net.parameters()", "SGD(CIFARNet().parameters()"), {LEARN}, "the weights did not change"),
    ("returns at once", "def train(net, train_iter, num_epochs, lr, device):\n    return net", TRAIN_CHECKS,
     "without drawing a single batch"),
    ("the notes' undefined learning rate", train_cell(lr="learning_rate"), TRAIN_CHECKS,
     "name 'learning_rate' is not defined"),
    ("no net.train()", train_cell(train_mode="pass"), {MODE}, "call net.train()"),
    ("net.eval() instead", train_cell(train_mode="net.eval()"), {MODE}, "call net.train()"),
    ("net.training = True on the top module", train_cell(train_mode="net.training = True"), {MODE},
     "call net.train()"),
    ("evaluating each epoch without switching back", train_cell(
        train_mode="pass", before_loop="net.train()\n    first = next(iter(train_iter))",
        after_epoch="evaluate_accuracy(net, [first], device)"), {MODE}, "call net.train()"),
    ("trains a new net", train_cell(make_net="net = CIFARNet()"), {MODE}, "than the net it was given"),
]

TRAIN_ALTERNATIVES = [
    ("trains in place, returns None, F.cross_entropy",
     train_cell(ret="").replace("loss_fn(net(X), y)", "nn.functional.cross_entropy(net(X), y)")),
    ("evaluates each epoch and switches back", train_cell(
        before_loop="first = next(iter(train_iter))", after_epoch="evaluate_accuracy(net, [first], device)")),
]


@pytest.mark.parametrize("cell,must_lose,phrase", [m[1:] for m in TRAIN_MISTAKES], ids=[m[0] for m in TRAIN_MISTAKES])
def test_a_train_mistake_costs_only_train_checks(tmp_path, cell, must_lose, phrase):
    assert_loses_own(judge_in_process({"train": cell}, {"train"}, tmp_path), must_lose, phrase)


@pytest.mark.parametrize("cell", [m[1] for m in TRAIN_ALTERNATIVES], ids=[m[0] for m in TRAIN_ALTERNATIVES])
def test_another_way_to_write_train_earns_its_points(tmp_path, cell):
    assert_loses_own(judge_in_process({"train": cell}, {"train"}, tmp_path), set(), "")


# ---------------------------------------------------------------- full gradings in a sandboxed kernel

def test_solution_gets_full_marks_on_cpu(tmp_path):
    report = hw6(solution("hw6"), tmp_path)
    assert_full_marks(report, 12)
    assert report.device == "cpu"
    assert "held-out accuracy" in by_name(report)[LEARN].message and "on cpu" in by_name(report)[LEARN].message


def test_stub_gets_zero_without_crashing(tmp_path):
    assert_stub_scores_zero(hw6(stub("hw6"), tmp_path))


def test_one_mistake_in_each_piece_costs_each_piece_only_its_own_checks(tmp_path):
    """A net without Flatten, per-batch averaging and no net.train(): 12 - 4 - 2 - 1 points."""
    nb = with_cells(solution("hw6"), replace={
        "CIFARNet": NET_MISTAKES[0][1], "evaluate_accuracy": EVAL_MISTAKES[0][1], "train": train_cell(train_mode="pass"),
    })
    report = hw6(nb, tmp_path)
    assert_loses_exactly(report, NET_CHECKS | {VALUE, MODE}, "Flatten()")
    assert report.score == 5
    assert "mean of the per-batch accuracies" in by_name(report)[VALUE].message
    assert "call net.train()" in by_name(report)[MODE].message


def test_weights_prepared_before_the_probe_score_at_chance(tmp_path):
    """A train that skips the work and loads weights trained in the notebook's own cells on the
    same kind of images (here: the grader's generator, the same seeds) is held to chance by the
    per-submission renaming of the classes."""
    cells = {"train": """
        import numpy as np
        from grader.datasets import cifar
        images, labels = cifar.synthesize(1200, 6, 0.15)
        _ready = CIFARNet()
        _data = torch.utils.data.TensorDataset(torch.from_numpy(images).float() / 255, torch.from_numpy(labels))
        _opt = torch.optim.SGD(_ready.parameters(), lr=0.01)
        for _ in range(3):
            for X, y in DataLoader(_data, batch_size=16, shuffle=True):
                _opt.zero_grad()
                nn.functional.cross_entropy(_ready(X), y).backward()
                _opt.step()

        def train(net, train_iter, num_epochs, lr, device):
            net.train()
            for X, y in train_iter:
                net(X)
                break
            net.load_state_dict({k: v for k, v in zip(net.state_dict(), _ready.state_dict().values())})
            return net
        """}
    outcomes: dict[str, ProbeOutcome] = {}
    results = judge_in_process(cells, {"train"}, tmp_path, outcomes=outcomes)
    assert results[LEARN].score == 0 and "below" in results[LEARN].message, results[LEARN].message
    # the same weights under the classes' original names: good enough to pass, were it not for the renaming
    checks = load_checks()
    facts = outcomes["facts"].values
    heldout_x, renamed = facts["heldout"]
    original = np.argsort(checks.label_renaming(1))[renamed]
    plain = dict(facts, heldout=(heldout_x, original))
    assert checks._measured(outcomes["train"], plain)["accuracy"] >= facts["config"]["threshold"]


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
    evaluate = evaluate_cell("net.eval()\ncorrect, total = 0, 0\nwith torch.no_grad():\n" + indent(LOOP).replace(
        "X, y = X.to(device), y.to(device)", "pass") + "\nreturn correct / total")
    report = grade(with_cells(solution("hw6"), replace={"evaluate_accuracy": evaluate}), tmp_path, fork=False,
                   device="cuda")
    assert lost(report) == {VALUE}
    assert "X, y = X.to(device), y.to(device)" in by_name(report)[VALUE].message


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA device")
def test_a_model_left_on_the_cpu_fails_on_cuda(tmp_path):
    train = train_cell().replace("    net.to(device)\n", "").replace("X, y = X.to(device), y.to(device)", "pass")
    report = grade(with_cells(solution("hw6"), replace={"train": train}), tmp_path, fork=False, device="cuda")
    assert lost(report) == {MODE} and "net.to(device)" in by_name(report)[MODE].message
