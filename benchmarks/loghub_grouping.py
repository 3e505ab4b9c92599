"""Grouping accuracy of agentlog's template miner on Loghub-2k, beside drain3 and Drain.

Runs each clusterer with ONE configuration for all eight datasets (agentlog's default; drain3's
default) on the ``Content`` column and scores it against ``EventId`` with grouping accuracy
(Zhu et al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019): a message is
correct when its predicted group holds exactly the messages of its true group.  The
published Drain figures were obtained with per-dataset tuning.  Data: Loghub (Zhu et al.,
ISSRE 2023), see ../shared/benchmarks/loghub/CITATION.

    python benchmarks/loghub_grouping.py
"""

from __future__ import annotations

import csv
import logging
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

from agentlog.intel.miner import TemplateMiner

LOGHUB = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "loghub"
PUBLISHED_DRAIN = {
    "HDFS": 0.9975,
    "Hadoop": 0.9475,
    "Spark": 0.92,
    "Zookeeper": 0.9665,
    "BGL": 0.9625,
    "HPC": 0.887,
    "Thunderbird": 0.955,
    "Windows": 0.997,
}

Clusterer = Callable[[], Callable[[str], str]]


def load(name: str) -> tuple[list[str], list[str]]:
    with (LOGHUB / f"{name}_2k.log_structured.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    true_sizes = Counter(truth)
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(predicted):
        members[group].append(i)
    correct = 0
    for indices in members.values():
        labels = {truth[i] for i in indices}
        if len(labels) == 1 and true_sizes[truth[indices[0]]] == len(indices):
            correct += len(indices)
    return correct / len(truth)


def agentlog_miner() -> Callable[[str], str]:
    miner = TemplateMiner()
    return lambda message: miner.add(message).fingerprint


def drain3_default() -> Callable[[str], str]:
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.template_miner_config import TemplateMinerConfig

    logging.getLogger("drain3").setLevel(logging.ERROR)
    config = TemplateMinerConfig()  # defaults; no drain3.ini is read
    miner = Drain3Miner(config=config)
    return lambda message: str(miner.add_log_message(message)["cluster_id"])


def evaluate(make: Clusterer, datasets: dict[str, tuple[list[str], list[str]]]) -> tuple[dict[str, float], float]:
    scores, seconds, count = {}, 0.0, 0
    for name, (messages, truth) in datasets.items():
        assign = make()  # a fresh clusterer per dataset, the same configuration for all
        start = time.perf_counter()
        predicted = [assign(m) for m in messages]
        seconds += time.perf_counter() - start
        count += len(messages)
        scores[name] = grouping_accuracy(predicted, truth)
    return scores, count / seconds


def main() -> None:
    if not LOGHUB.is_dir():
        sys.exit(f"Loghub data not found at {LOGHUB} (expected ../shared/benchmarks/loghub next to the repo)")
    datasets = {name: load(name) for name in PUBLISHED_DRAIN}
    results = {"agentlog": evaluate(agentlog_miner, datasets), "drain3 default": evaluate(drain3_default, datasets)}

    print(f"{'dataset':<12} {'agentlog':>9} {'drain3':>9} {'Drain (published, tuned)':>25}")
    for name, published in PUBLISHED_DRAIN.items():
        ours, theirs = results["agentlog"][0][name], results["drain3 default"][0][name]
        print(f"{name:<12} {ours:>9.4f} {theirs:>9.4f} {published:>25.4f}")
    averages = {label: sum(scores.values()) / len(scores) for label, (scores, _) in results.items()}
    published_avg = sum(PUBLISHED_DRAIN.values()) / len(PUBLISHED_DRAIN)
    print(f"{'average':<12} {averages['agentlog']:>9.4f} {averages['drain3 default']:>9.4f} {published_avg:>25.4f}")
    for label, (_, rate) in results.items():
        print(f"throughput {label}: {rate:,.0f} messages/s")
    ratio = results["agentlog"][1] / results["drain3 default"][1]
    print(f"throughput ratio agentlog/drain3: {ratio:.2f}")


if __name__ == "__main__":
    main()
