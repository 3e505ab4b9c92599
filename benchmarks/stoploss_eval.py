"""Stop-loss on the labelled SWE-bench runs (issue 23): cost saved at a bounded loss of resolved tasks.

    .venv/bin/pip install -e '.[ml]' && .venv/bin/python benchmarks/stoploss_eval.py

The runs of ../shared/datasets are imported by agentlog's own importers (risk_data.py).
Risk scores come from `agentlog risk --replay --format json`, cross-fitted: the runs are in
5 folds by SWE-bench instance (as benchmarks/risk_eval.py), and each fold is scored by a
model that `agentlog risk train` fitted on the other four (no run is scored by a model
that saw its task). The scores carry the benchmark's label as their outcome; `agentlog
advise --risk-scores FILE` then chooses the threshold on one of its two folds
(analytics.stoploss.fold_of: the most saving one whose 95% upper bound of resolved runs
lost is within 2 pp there) and measures it on the other. Printed: cost saved % and
resolved tasks lost in points, in all and per agent (target >= 20% at <= 2 pp).

Until this used advise's two folds for the models too, each trained on the other fold's
runs of other instances: with SWE-agent's three reruns per instance in both folds, that
left ~250-300 training runs and almost no SWE-agent ones, and each fold's risks on a scale
of their own, so a threshold chosen on one fold did not mean the same on the other.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from risk_data import load_runs, write_labels  # noqa: E402

AGENTLOG = [sys.executable, "-m", "agentlog"]
EXECUTORS = {"minisweagent_gemini3pro_verified": "MINI_SWE_AGENT", "sweagent_gpt4_lite": "SWE_AGENT"}
FOLDS = 5  # cross-fitting by instance, as benchmarks/risk_eval.py


def cli(*args: str) -> str:
    return subprocess.run([*AGENTLOG, *args], check=True, capture_output=True, text=True).stdout


def scores(logs: Path, runs, out: Path) -> Path:
    """Cross-fitted risk scores of every run, its outcome the benchmark's label: the runs in
    FOLDS folds by SWE-bench instance, each fold scored by a model trained on the others."""
    label = {r.attempt_id: r for r in runs}
    instances = sorted({r.instance_id for r in runs})
    random.Random(7).shuffle(instances)
    fold = {instance: i % FOLDS for i, instance in enumerate(instances)}
    lines = []
    for k in range(FOLDS):
        train = [r for r in runs if fold[r.instance_id] != k]
        labels, model = out / f"labels-{k}.csv", out / f"model-{k}.json"
        write_labels(labels, train, tuple(EXECUTORS))
        cli("risk", "train", "--labels", str(labels), "--log-dir", str(logs), "--out", str(model))
        replay = cli("risk", "--replay", "--format", "json", "--model", str(model), "--log-dir", str(logs))
        for line in replay.splitlines():
            record = json.loads(line)
            run = label.get(record["attempt_id"])
            if run is not None and fold[run.instance_id] == k:
                record["outcome"] = "resolved" if run.resolved else "failed"
                lines.append(json.dumps(record))
    path = out / "scores.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def stop_loss(logs: Path, path: Path, *filters: str) -> dict | None:
    advice = json.loads(
        cli("advise", "--risk-scores", str(path), "--days", "0", "--format", "json", "--log-dir", str(logs), *filters)
    )
    found = [f for f in advice["findings"] if f["kind"] == "stop_loss"]
    if not found:
        print("   ", "; ".join(n for n in advice.get("notes", []) if n.startswith("stop-loss")) or "no stop-loss")
    return found[0] if found else None


def main() -> None:
    logs, runs = load_runs()
    with tempfile.TemporaryDirectory(prefix="stoploss-eval-") as tmp:
        path = scores(logs, runs, Path(tmp))
        print(f"runs scored: {len(path.read_text().splitlines())} (cross-fitted risk models, 2 folds)")
        print(f"{'runs':<28}{'threshold':>10}{'cost saved':>12}{'resolved lost':>16}  target >= 20% at <= 2 pp")
        for name, filters in [("all", ())] + [(e, ("--executor", e)) for e in EXECUTORS.values()]:
            found = stop_loss(logs, path, *filters)
            if found is None:
                print(f"{name:<28}{'-':>10}{'0.0%':>12}{'0.0 pp':>16}")
                continue
            e, g = found["evidence"], found["guard"]
            print(
                f"{name:<28}{found['title'].rpartition('>= ')[2]:>10}{e['saved_pct']:>11.1f}%{g['lost_pp']:>13.1f} pp"
                f"  (held out: ${e['held_out_saved_usd']:.2f} saved; folds chose {e['thresholds_by_fold']}; "
                f"{g['text']})"
            )


if __name__ == "__main__":
    main()
