"""Sessions unlike their cohort (`session_anomaly`) on the labelled SWE-bench runs.

    .venv/bin/python benchmarks/anomaly_eval.py

The runs of ../shared/datasets are imported by agentlog's own importers (risk_data.py).
Two folds by SWE-bench instance: the baselines are fitted (agentlog.risk.cohort.fit, as
`agentlog risk baselines` does) on one fold's sessions as recorded, and the other fold is
watched by the real engine with the `session_anomaly` detector, one event at a time,
after 10% of its sessions had one anomaly planted from a step chosen at random:
- loop: the previous step (its call and result) repeated 6 more times
- cost_x3: every call costs 3x from there on (runs with per-call usage only)
- stall: 6 model calls that run no command (each answered by the harness's error)
- error_burst: the next 6 commands fail (result error and an error event)
- context_blowup: a tool output four times the context stays in it: each call's input
  grows by that much, cost with it (per-call usage only)
Printed: precision, recall, false alerts per 100 normal sessions and the median delay in
events after the onset (targets 0.9 / 0.9 / <= 1 / <= 5), per kind and in all; then on
the natural labels (runs that ended on the cost limit) the detector beside the static
$1 cost rule at the same alert volume. Development figures: a private set checks them.
`--hst` (needs `pip install river`; ~30 minutes) then prints the same with river's
HalfSpaceTrees as the combiner (benchmarks/anomaly_hst.py), the alternative issue 22 named.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec  # noqa: E402
from anomaly_hst import HstCombiner  # noqa: E402
from risk_data import DATASETS, load_runs  # noqa: E402

from agentlog.risk import cohort  # noqa: E402
from agentlog.watch.config import WatchConfig  # noqa: E402
from agentlog.watch.detectors import load_detectors  # noqa: E402
from agentlog.watch.engine import Engine  # noqa: E402
from agentlog.watch.view import WatchEvent  # noqa: E402

SHARE = 0.10
REPEAT = 6
KINDS = ("loop", "cost_x3", "stall", "error_burst", "context_blowup")
NEEDS_USAGE = {"cost_x3", "context_blowup"}
SEED = 22
_decode = msgspec.json.Decoder(WatchEvent)


def sessions(logs: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    with open(logs / "agent-work-stream.jsonl", "rb") as lines:
        for line in lines:
            event = json.loads(line)
            found[event["attempt_id"]].append(event)
    return found


def steps_of(events: list[dict]) -> list[int]:
    """The index of the first event of each model call (a step), as the detector counts them."""
    starts, in_call = [], False
    for i, event in enumerate(events):
        kind = event["event_type"]
        if kind in ("agent_thinking", "agent_output", "tool_call"):
            if not in_call:
                starts.append(i)
            in_call = True
        elif kind in ("tool_result", "error", "session_start", "session_end", "followup_sent", "status_change"):
            in_call = False
    return starts


def _copy(event: dict, tag: str, **data) -> dict:
    made = {**event, "data": {**event["data"], **data}}
    if made.get("event_id"):
        made["event_id"] = f"{event['event_id']}-{tag}"
    return made


def plant(events: list[dict], kind: str, step: int) -> tuple[list[dict], int]:
    """The session with `kind` planted at `step` (0-based); the index of the first changed event."""
    starts = steps_of(events)
    at = starts[step]
    head, tail = events[:at], events[at:]
    if kind == "loop":
        previous = events[starts[step - 1] : at]
        inserted = [_copy(e, f"loop{n}") for n in range(REPEAT) for e in previous]
        return head + inserted + tail, at
    if kind == "stall":
        thinking = next(e for e in tail if e["event_type"] in ("agent_thinking", "agent_output"))
        usage = next((e for e in tail if e["event_type"] == "usage"), None)
        inserted = []
        for n in range(REPEAT):
            inserted.append(_copy(thinking, f"stall{n}", content="Waiting for the previous command to finish."))
            if usage is not None:
                inserted.append(_copy(usage, f"stall{n}u"))
            inserted.append(
                {
                    **thinking,
                    "event_type": "error",
                    "event_id": f"{thinking.get('event_id')}-stall{n}e",
                    "data": {"error_message": "Please always provide EXACTLY ONE action in triple backticks."},
                }
            )
        return head + inserted + tail, at
    if kind == "error_burst":
        out, burst, first = list(head), 0, None
        for event in tail:
            if event["event_type"] == "error" and burst:
                continue  # the planted one stands for it
            if event["event_type"] == "tool_result" and burst < REPEAT:
                burst += 1
                first = len(out) if first is None else first
                out.append(_copy(event, "burst", result="error", result_data="Traceback: OSError: [Errno 5]"))
                out.append(
                    {
                        **event,
                        "event_type": "error",
                        "event_id": f"{event.get('event_id')}-burste",
                        "data": {"error_message": "OSError: [Errno 5] Input/output error", "tool_name": "bash"},
                    }
                )
                continue
            out.append(event)
        return out, first if first is not None else at
    # cost_x3, context_blowup: the usage events from the step on
    out, first, extra = list(head), None, 0
    for event in tail:
        if event["event_type"] == "usage" and event["data"].get("cost_usd"):
            first = len(out) if first is None else first
            data = event["data"]
            if kind == "cost_x3":
                out.append(_copy(event, "x3", cost_usd=data["cost_usd"] * 3))
            else:
                inp = data.get("input_tokens", 0)
                extra = extra or 4 * inp  # a tool output four times the context, kept in it from then on
                grown = (inp + extra) / max(inp, 1)
                out.append(
                    _copy(
                        event,
                        "blowup",
                        input_tokens=data.get("input_tokens", 0) + extra,
                        cost_usd=data["cost_usd"] * grown,
                    )
                )
            continue
        out.append(event)
    return out, first if first is not None else at


def watch(config: WatchConfig, detectors: list, events: list[dict]) -> int | None:
    """The index of the event the session_anomaly alert came at (None: no alert): the real
    engine, with the one detector measured."""
    engine = Engine(config, detectors)
    for i, event in enumerate(events):
        if engine.feed([json.dumps(event).encode()]):
            return i
    return None


def fit(found: dict[str, list[dict]], attempts: list[str]) -> tuple[cohort.Baselines, list[cohort.Trace]]:
    traces = cohort.traces(_decode.decode(json.dumps(e).encode()) for a in attempts for e in found[a])
    return cohort.fit(traces), traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--hst", action="store_true", help="also river's HalfSpaceTrees as the combiner (pip install river)"
    )
    args = parser.parse_args()
    logs, runs = load_runs()
    found = sessions(logs)
    with open(DATASETS / "labels.csv", newline="") as handle:
        status = {row["run_id"]: row["exit_status"] for row in csv.DictReader(handle)}
    runs = [r for r in runs if r.attempt_id in found]
    rng = random.Random(SEED)
    instances = sorted({r.instance_id for r in runs})
    rng.shuffle(instances)
    fold_of = {g: i % 2 for i, g in enumerate(instances)}
    planted: list[dict] = []
    normal_alerts = normal_n = 0
    hst_normal_alerts = 0
    natural: list[tuple[object, bool]] = []  # (run, alerted) of every run watched as recorded
    tmp = Path(tempfile.mkdtemp(prefix="anomaly-eval-"))
    for fold in (0, 1):
        train = [r.attempt_id for r in runs if fold_of[r.instance_id] != fold]
        test = [r for r in runs if fold_of[r.instance_id] == fold]
        baselines, traces = fit(found, train)
        hst = HstCombiner(baselines, traces, cohort.ALPHA, SEED) if args.hst else None
        path = tmp / f"baselines-{fold}.json"
        baselines.save(path)
        config = WatchConfig(session_anomaly_baselines=str(path))
        detectors = load_detectors(config, ["session_anomaly"])
        chosen = [r for r in test if len(steps_of(found[r.attempt_id])) >= 5]
        chosen = set(r.run_id for r in rng.sample(chosen, round(SHARE * len(test))))
        for run in test:
            events = found[run.attempt_id]
            alerted = watch(config, detectors, events)
            natural.append((run, alerted is not None))
            if run.run_id not in chosen:
                normal_n += 1
                normal_alerts += alerted is not None
                hst_normal_alerts += hst is not None and hst.watch(_decode.decode, events) is not None
                continue
            priced = sum(e["event_type"] == "usage" and bool(e["data"].get("cost_usd")) for e in events)
            usage = priced >= len(steps_of(events)) / 2  # usage per call, not one total at the end
            kinds = [k for k in KINDS if usage or k not in NEEDS_USAGE]
            kind = kinds[len(planted) % len(kinds)]
            step = rng.randint(2, len(steps_of(events)) - 3)
            changed, onset = plant(events, kind, step)
            at = watch(config, detectors, changed)
            hst_at = hst.watch(_decode.decode, changed) if hst else None
            planted.append({"kind": kind, "source": run.source, "onset": onset, "at": at, "hst_at": hst_at})
    _report(planted, normal_alerts, normal_n)
    _natural(natural, status)
    if args.hst:
        print("\nthe same with river's HalfSpaceTrees as the combiner (same baselines, folds and plants):")
        _report([{**p, "at": p["hst_at"]} for p in planted], hst_normal_alerts, normal_n)


def _report(planted: list[dict], normal_alerts: int, normal_n: int) -> None:
    for p in planted:
        p["early"] = p["at"] is not None and p["at"] < p["onset"]
    print(f"sessions watched: {normal_n + len(planted)}; planted anomalies: {len(planted)}; normal: {normal_n}")
    print(f"{'kind':<16}{'planted':>8}{'caught':>8}{'recall':>8}{'median delay (events)':>24}")
    rows = [(k, [p for p in planted if p["kind"] == k]) for k in KINDS] + [("all", planted)]
    for kind, items in rows:
        caught = [p for p in items if p["at"] is not None and not p["early"]]
        delays = [p["at"] - p["onset"] for p in caught]
        delay = f"{statistics.median(delays):.1f}" if delays else "-"
        recall = len(caught) / len(items) if items else float("nan")
        print(f"{kind:<16}{len(items):>8}{len(caught):>8}{recall:>8.3f}{delay:>24}")
    caught = sum(p["at"] is not None and not p["early"] for p in planted)
    early = sum(p["early"] for p in planted)
    precision = caught / (caught + normal_alerts + early) if caught + normal_alerts + early else float("nan")
    print(
        f"precision {precision:.3f} (target >= 0.9), recall {caught / len(planted):.3f} (target >= 0.9), "
        f"false alerts per 100 normal sessions {100 * normal_alerts / normal_n:.2f} (target <= 1); "
        f"alerts before the onset of a planted one: {early}"
    )
    delays = [p["at"] - p["onset"] for p in planted if p["at"] is not None and not p["early"]]
    if delays:
        print(f"median delay {statistics.median(delays):.1f} events after the onset (target <= 5)")
    for source in sorted({p["source"] for p in planted}):
        mine = [p for p in planted if p["source"] == source]
        hit = sum(p["at"] is not None and not p["early"] for p in mine)
        print(f"  {source}: recall {hit}/{len(mine)} = {hit / len(mine):.3f}")


def _natural(natural: list, status: dict[str, str]) -> None:
    """Runs that ended on the cost (or context) limit: the detector vs the $1 rule at its volume."""
    positive = {r.run_id for r, _ in natural if "cost" in status[r.run_id] or "context" in status[r.run_id]}
    alerted = [r for r, hit in natural if hit]
    cost = _costs()
    dollar = [r for r, _ in natural if cost[r.run_id] >= 1.0]
    top = sorted((r for r, _ in natural), key=lambda r: cost[r.run_id], reverse=True)[: len(alerted)]

    def line(name: str, chosen: list) -> str:
        hit = sum(r.run_id in positive for r in chosen)
        precision = hit / len(chosen) if chosen else float("nan")
        return f"{name:<44} alerts {len(chosen):>4}  precision {precision:.3f}  recall {hit}/{len(positive)}"

    print()
    print(f"natural labels: {len(positive)} of {len(natural)} runs ended on the cost or context limit")
    print(line("session_anomaly (no plants)", alerted))
    print(line(f"cost rule at the same volume (>= ${cost[top[-1].run_id]:.2f})" if top else "cost rule", top))
    print(line("static $1 cost rule", dollar))


def _costs() -> dict[str, float]:
    with open(DATASETS / "labels.csv", newline="") as handle:
        return {row["run_id"]: float(row["total_cost_usd"] or 0) for row in csv.DictReader(handle)}


if __name__ == "__main__":
    main()
