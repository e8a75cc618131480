"""Calibrate hw6's threshold and time budget from the reference solution.

    .venv/bin/python scripts/calibrate_hw6.py                      # the generated data set
    .venv/bin/python scripts/calibrate_hw6.py --profile quick      # the test suite's profile
    .venv/bin/python scripts/calibrate_hw6.py --data-root DIR      # real CIFAR-10 (DIR/cifar-10-batches-py)

It trains the reference `train` from solutions/hw6.ipynb exactly as the grader trains a
submission: the same `prepare` (data, class renaming, initial weights, loader, batch size,
epochs, lr) and the same probe function with the grading seed, then with `--seeds` other
submission seeds (other class renamings) and data orders for the spread, and measures every run
with the judges' own code (held-out accuracy and loss). It runs in
this process, with torch's default threads (2 on these machines), like a single `grade`.

Rules that turn the runs into the config (printed at the end, to copy into PROFILES):
  threshold = the lowest held-out accuracy over the runs minus 0.15, rounded down to 0.05:
              room for correct loops written differently (another loss reduction order, a
              different evaluation schedule) and for run-to-run noise, far above chance (0.1);
  budget_s  = 10 x the slowest reference training time, rounded up to 10 s: room for a loaded
              shared machine (2.5x slower was seen while calibrating) and for bulk grading's one
              thread per kernel (2x), while an endless loop still ends within two minutes;
  loss_ratio: a net whose held-out loss fell to half the untrained loss or less has learnt
              something (the reference reaches about a fifth): below the threshold, that earns a
              third of the check's points, and a loop that does not learn earns none.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import probe_runtime  # noqa: E402
from grader.checks import GradingContext  # noqa: E402
from grader.probe import probe_source, read_result, write_inputs  # noqa: E402
from grader.reference import reference_namespace  # noqa: E402


def load_checks():
    spec = importlib.util.spec_from_file_location("hw6_checks", ROOT / "assignments" / "hw6" / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, help="a folder holding cifar-10-batches-py (real CIFAR-10)")
    parser.add_argument("--profile", choices=("generated", "quick"), default="generated",
                        help="without --data-root: which generated profile")
    parser.add_argument("--seeds", type=int, default=2, help="extra seeds besides the grading seed")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import os

    if args.profile == "quick":
        os.environ["GRADER_HW6_PROFILE"] = "quick"
    checks = load_checks()
    namespace = reference_namespace(ROOT / "solutions" / "hw6.ipynb")
    runs = []
    grading_seed = checks.TRAIN.seed(0)  # a public probe: the same data order for every submission
    source = probe_source(checks.probe_train, checks.TRAIN.helpers)  # read once: checks.py may change meanwhile
    with tempfile.TemporaryDirectory(prefix="calibrate-hw6-") as tmp:
        scratch = Path(tmp) / "work"
        scratch.mkdir()
        # Run i: the i-th submission seed (its own renaming of the classes) and data order.
        for i in range(args.seeds + 1):
            prepared = checks.prepare(GradingContext(args.device, scratch, args.data_root, i))
            facts = prepared.facts  # what the judges get
            config = prepared.facts["config"]
            if i == 0:
                print(f"profile {prepared.facts['profile']}: {prepared.facts['data']}")
                print({k: v for k, v in config.items() if k != "budget_s"})
            seed = grading_seed + i
            inputs = dict(prepared.inputs, **prepared.probe_inputs["train"], device=args.device)
            in_path, out_path = Path(tmp) / "train.in", Path(tmp) / f"train-{seed}.out"
            write_inputs(in_path, inputs)
            started = time.perf_counter()
            probe_runtime.run_probe(namespace, source, "probe_train", list(checks.TRAIN.uses), str(in_path),
                                    str(out_path), seed)
            seconds = time.perf_counter() - started
            outcome = read_result(out_path)
            if outcome.status != "ok":
                raise SystemExit(f"the reference failed: {outcome.status} {outcome.error}")
            m = checks._measured(outcome, facts)
            train_s = outcome.values["seconds"]
            runs.append((seed, m["accuracy"], m["initial_loss"], m["loss"], train_s, seconds))
            tag = " (the grading seed)" if i == 0 else ""
            print(f"submission seed {i}, data order {seed}{tag}: held-out accuracy {m['accuracy']:.3f},"
                  f" held-out loss {m['initial_loss']:.3f} -> {m['loss']:.3f}, train {train_s:.1f} s,"
                  f" probe {seconds:.1f} s", flush=True)
    lowest = min(r[1] for r in runs)
    slowest = max(r[4] for r in runs)
    threshold = math.floor((lowest - 0.15) / 0.05) * 0.05
    budget = math.ceil(10 * slowest / 10) * 10
    print(f"\nlowest held-out accuracy {lowest:.3f}, slowest training {slowest:.1f} s on {args.device}")
    print(f"=> threshold={threshold:.2f}, budget_s[{args.device!r}]={budget:.0f}, loss_ratio=0.5")


if __name__ == "__main__":
    main()
