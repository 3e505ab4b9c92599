"""Are `agentlog ab report`'s tests honest on real runs?  Three figures, on the shared
SWE-agent runs (../shared/datasets/sweagent_gpt4_lite, imported with the swe-agent
importer, outcome = the SWE-bench label) or on any imported log (`--log-dir`, with
`--labels` to take outcomes from a labels.csv instead of the recorded status):

1. A/A: 2,000 random splits of the same runs; the false-positive rate of each test
   (success: score test; cost, duration: Welch) should lie within [0.04, 0.06].
2. Planted effects: +10 pp success (failures flipped at random in arm B) and +20% cost;
   the share of splits that detect them should match the power the report computes
   (`success_power`, `cost_power`) within 5 pp.
3. Peeking: looking after every 25 runs per arm and stopping at the first p < 0.05:
   the naive test's false-positive rate against the always-valid (mixture SPRT) p-value's.

Units are runs; with several runs of one SWE-bench instance (three batches), one run per
instance is drawn afresh for every split, so the units of a split are independent tasks.

    .venv/bin/python benchmarks/ab_eval.py [--splits 2000] [--log-dir LOG --labels labels.csv]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from agentlog.analytics import load
from agentlog.analytics.ab import always_valid_p, cost_power, success_power, success_test, welch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
ALPHA = 0.05


def import_sweagent(runs_file: Path, work: Path) -> tuple[Path, dict[str, str]]:
    """Each run's trajectory as a .traj file, imported; returns the log dir and attempt id -> run id."""
    from agentlog.agents.swe_agent import SweAgentImporter

    trajs, log_dir = work / "trajs", work / "logs"
    attempt_of_run = {}
    importer = SweAgentImporter()
    with gzip.open(runs_file, "rt", encoding="utf-8") as lines:
        for line in lines:
            run = json.loads(line)
            path = trajs / run["run_id"].replace("/", "__")
            path = path.with_name(path.name + ".traj")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(run["trajectory"]), encoding="utf-8")
            attempt_of_run[importer.attempt_id(path)] = run["run_id"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "agentlog",
            "import",
            "swe-agent",
            str(trajs),
            "--log-dir",
            str(log_dir),
            "--open-after",
            "0",
        ],
        check=True,
        capture_output=True,
    )
    return log_dir, attempt_of_run


def units(log_dir: Path, labels: Path | None, attempt_of_run: dict[str, str] | None) -> list[dict]:
    """One row per ended session: group (task), success, cost, duration."""
    rows = load(log_dir).query(
        "SELECT attempt_id, task_id, success, cost_usd, duration_ms FROM sessions WHERE ended ORDER BY attempt_id"
    )  # a fixed order: the same seed draws the same splits
    label = {}
    if labels is not None:
        with open(labels, newline="", encoding="utf-8") as handle:
            label = {r["run_id"]: r for r in csv.DictReader(handle)}
    out = []
    for row in rows:
        run_id = (attempt_of_run or {}).get(row["attempt_id"], row["attempt_id"])
        known = label.get(run_id)
        if labels is not None and known is None:
            continue
        out.append(
            {
                "group": known["instance_id"] if known else (row["task_id"] or row["attempt_id"]),
                "success": known["resolved"] == "True" if known else bool(row["success"]),
                "cost": float(row["cost_usd"] or 0.0),
                "duration": float(row["duration_ms"] or 0.0),
            }
        )
    return out


def draw(groups: dict[str, list[dict]], rng: random.Random, per_arm: int | None = None) -> tuple[list, list]:
    """One run per task, shuffled, split in two (each at most `per_arm`)."""
    picked = [rng.choice(runs) for runs in groups.values()]
    rng.shuffle(picked)
    half = len(picked) // 2 if per_arm is None else min(per_arm, len(picked) // 2)
    return picked[:half], picked[half : 2 * half]


def tests(a: list[dict], b: list[dict]) -> dict[str, float]:
    return {
        "success": success_test([r["success"] for r in a], [r["success"] for r in b])[1],
        "cost": welch([r["cost"] for r in a], [r["cost"] for r in b]) or 1.0,
        "duration": welch([r["duration"] for r in a], [r["duration"] for r in b]) or 1.0,
    }


def aa(groups, splits: int, rng: random.Random) -> dict[str, float]:
    hits = defaultdict(int)
    for _ in range(splits):
        for metric, p in tests(*draw(groups, rng)).items():
            hits[metric] += p < ALPHA
    return {m: hits[m] / splits for m in ("success", "cost", "duration")}


def planted(groups, splits: int, rng: random.Random, per_arm: int | None) -> dict[str, tuple[float, float]]:
    """(detected share, mean predicted power) for +10 pp success and +20% cost."""
    detected, predicted = defaultdict(int), defaultdict(float)
    for _ in range(splits):
        a, b = draw(groups, rng, per_arm)
        rate = sum(r["success"] for r in b) / len(b)
        flip = 0.10 / (1 - rate) if rate < 1 else 0.0
        b_success = [dict(r, success=r["success"] or rng.random() < flip) for r in b]
        b_cost = [dict(r, cost=r["cost"] * 1.2) for r in b]
        detected["success"] += tests(a, b_success)["success"] < ALPHA
        detected["cost"] += tests(a, b_cost)["cost"] < ALPHA
        base = sum(r["success"] for r in a) / len(a)
        predicted["success"] += success_power(len(a), len(b), base, 0.10)
        predicted["cost"] += cost_power([r["cost"] for r in a], [r["cost"] for r in b], 0.20)
    return {m: (detected[m] / splits, predicted[m] / splits) for m in ("success", "cost")}


def peeking(groups, sequences: int, rng: random.Random, every: int = 25) -> tuple[float, float, int]:
    """False-positive rates (naive, always valid) when looking after every `every` runs per arm."""
    naive = valid = 0
    looks = 0
    for _ in range(sequences):
        a, b = draw(groups, rng)
        history = [(r["success"], arm) for pair in zip(a, b) for r, arm in zip(pair, (False, True))]
        looks = len(a) // every
        for look in range(1, looks + 1):
            if (
                success_test([r["success"] for r in a[: look * every]], [r["success"] for r in b[: look * every]])[1]
                < ALPHA
            ):
                naive += 1
                break
        valid += always_valid_p(history[: looks * every * 2]) < ALPHA
    return naive / sequences, valid / sequences, looks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=2000)
    parser.add_argument("--log-dir", type=Path, help="An imported log (default: import the shared SWE-agent runs).")
    parser.add_argument("--labels", type=Path, help="labels.csv: outcomes by run id (default with the shared runs).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--units",
        choices=("tasks", "runs"),
        default="tasks",
        help="tasks: one run per task per split (independent units); runs: every run.",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as work:
        if args.log_dir is None:
            log_dir, attempts = import_sweagent(SHARED / "sweagent_gpt4_lite" / "runs.jsonl.gz", Path(work))
            labels = args.labels or SHARED / "labels.csv"
        else:
            log_dir, attempts, labels = args.log_dir, None, args.labels
        rows = units(log_dir, labels, attempts)
    groups: dict[str, list[dict]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[row["group"] if args.units == "tasks" else str(i)].append(row)
    rate = sum(r["success"] for r in rows) / len(rows)
    print(f"runs {len(rows)}, units {len(groups)} ({args.units}), success {rate:.1%}, splits {args.splits}")
    fpr = aa(groups, args.splits, rng)
    print("A/A false-positive rate (target 0.04-0.06): " + ", ".join(f"{m} {v:.3f}" for m, v in fpr.items()))
    for per_arm in (None, 100):
        found = planted(groups, args.splits, rng, per_arm)
        size = "all units" if per_arm is None else f"{per_arm} per arm"
        print(
            f"planted effects, {size}: "
            + ", ".join(
                f"{'+10 pp success' if m == 'success' else '+20% cost'} detected {d:.3f} vs power {p:.3f} "
                f"(diff {100 * (d - p):+.1f} pp)"
                for m, (d, p) in found.items()
            )
        )
    naive, valid, looks = peeking(groups, args.splits, rng)
    print(
        f"peeking every 25 runs per arm ({looks} looks): false-positive rate naive {naive:.3f}, "
        f"always-valid {valid:.3f}"
    )


if __name__ == "__main__":
    main()
