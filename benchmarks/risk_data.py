"""The labelled SWE-bench runs of ../shared/datasets, imported by agentlog's own importers.

Each run's trajectory is written out as the agent wrote it (mini-swe-agent
`<id>.traj.json`, SWE-agent `<batch>/<id>.traj`), `agentlog import` reads the folders into
a log directory, and the stream is read back as the watch reads it: the features come
from agentlog events, exactly as they would live. The import is cached under
benchmarks/.cache/ (keyed by the datasets' labels file); delete it to import again.

Labels (resolved or not) stay outside agentlog's logs: they join by attempt id only
when a run is scored, never as a feature.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DATASETS = Path(os.environ.get("AGENTLOG_DATASETS", Path(__file__).resolve().parents[1] / "../shared/datasets"))
CACHE = Path(__file__).resolve().parent / ".cache" / "risk"
SOURCES = {"minisweagent_gemini3pro_verified": "mini-swe-agent", "sweagent_gpt4_lite": "swe-agent"}
FIXED_MTIME = 1_767_225_600  # 2026-01-01: SWE-agent files carry no clock; the file time anchors it


@dataclass
class Run:
    run_id: str
    source: str
    instance_id: str
    resolved: bool
    attempt_id: str = ""
    path: Path | None = None


def _agentlog() -> list[str]:
    return [sys.executable, "-m", "agentlog"]


def load_runs() -> tuple[Path, list[Run]]:
    """The log directory holding every run, and the runs with their attempt ids and labels."""
    labels = (DATASETS / "labels.csv").read_bytes()
    key = hashlib.sha256(labels).hexdigest()[:12]
    root = CACHE / key
    index = root / "runs.json"
    if index.exists():
        runs = [Run(**{**r, "path": Path(r["path"])}) for r in json.loads(index.read_text())]
        return root / "logs", runs
    runs = _write_trajectories(root / "trajs")
    for source, agent in SOURCES.items():
        subprocess.run(
            [*_agentlog(), "import", agent, str(root / "trajs" / source), "--log-dir", str(root / "logs"), "-q"],
            check=True,
        )
    from agentlog.agents import get

    for run in runs:
        run.attempt_id = get(SOURCES[run.source]).importer().attempt_id(run.path)
    index.write_text(json.dumps([{**r.__dict__, "path": str(r.path)} for r in runs]))
    return root / "logs", runs


def _write_trajectories(out: Path) -> list[Run]:
    runs = []
    for source in SOURCES:
        with gzip.open(DATASETS / source / "runs.jsonl.gz", "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                _, batch, instance = record["run_id"].split("/")
                if source.startswith("mini"):
                    path = out / source / f"{instance}.traj.json"
                else:
                    path = out / source / batch / f"{instance}.traj"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(record["trajectory"]), encoding="utf-8")
                os.utime(path, (FIXED_MTIME, FIXED_MTIME))
                runs.append(
                    Run(record["run_id"], source, record["instance_id"], bool(record["resolved"]), path=path.resolve())
                )
    with open(DATASETS / "labels.csv", newline="") as handle:  # the two files agree, or the data is not what it says
        truth = {row["run_id"]: row["resolved"] == "True" for row in csv.DictReader(handle)}
    assert all(truth[r.run_id] == r.resolved for r in runs), "labels.csv and runs.jsonl.gz disagree"
    return runs


def write_labels(path: Path, runs: list[Run], sources: tuple[str, ...]) -> int:
    """attempt_id,resolved for the runs of `sources` (the input of `agentlog risk train --labels`)."""
    chosen = [r for r in runs if r.source in sources]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["attempt_id", "resolved"])
        writer.writerows((r.attempt_id, r.resolved) for r in chosen)
    return len(chosen)


if __name__ == "__main__":
    # The packaged default model: trained by `agentlog risk train` on the mini-swe-agent runs
    # only. Those are MIT-licensed; the SWE-agent runs are non-commercial research data and
    # stay out of anything shipped (see ../shared/datasets/README.md).
    logs, runs = load_runs()
    labels = CACHE / "default-labels.csv"
    write_labels(labels, runs, ("minisweagent_gemini3pro_verified",))
    out = Path(__file__).resolve().parents[1] / "src/agentlog/risk/default_model.json"
    subprocess.run(
        [*_agentlog(), "risk", "train", "--labels", str(labels), "--log-dir", str(logs), "--out", str(out)], check=True
    )
