"""Early failure risk on the labelled SWE-bench runs (../shared/datasets): targets and baselines.

    .venv/bin/pip install -e '.[ml]' && .venv/bin/python benchmarks/risk_eval.py

The runs are imported by agentlog's importers (see risk_data.py) and their features come
from agentlog events, as live. Grouped 5-fold cross-validation by SWE-bench instance (a
task's reruns, and the instances both agents ran, stay in one fold); each fold fits on
its training runs, sets the conformal thresholds on a held-out part of them, and is
scored on its test runs. Printed in the same run:
- AUROC at step 10 (mini-swe-agent) and at half-run (both cohorts), target >= 0.70 / 0.75
- expected calibration error per cohort at half-run (10 bins), target <= 0.05
- false alarms: successful held-out runs that ever alerted, target <= 10% (alpha 0.1)
- trained on one agent, tested on the other: the AUROC drop
- single-feature baselines (cost so far, steps, error rate) and the seed's $1 cost rule
These are development figures: a private set of runs from the same sources checks them.
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from risk_data import load_runs  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from agentlog.risk.features import NAMES  # noqa: E402
from agentlog.risk.history import read_events, runs as history_runs  # noqa: E402
from agentlog.risk.train import Labelled, train  # noqa: E402

FOLDS = 5
ALPHA = 0.1
COHORTS = {"MINI_SWE_AGENT": "mini-swe-agent (Gemini 3 Pro)", "SWE_AGENT": "SWE-agent (GPT-4)"}


def labelled() -> list[tuple[Labelled, object]]:
    logs, runs = load_runs()
    by_attempt = {r.attempt_id: r for r in runs}
    found = []
    for history in history_runs(read_events(logs)):
        run = by_attempt.get(history.attempt_id)
        if run is None or not history.vectors:
            continue
        found.append(
            (
                Labelled(history.vectors, len(history.live()), not run.resolved, history.executor, run.instance_id),
                history,
            )
        )
    return found


def folds(items, k: int = FOLDS):
    groups = sorted({item[0].group for item in items})
    import random

    random.Random(7).shuffle(groups)
    fold_of = {g: i % k for i, g in enumerate(groups)}
    for i in range(k):
        yield ([x for x in items if fold_of[x[0].group] != i], [x for x in items if fold_of[x[0].group] == i])


def at(run: Labelled, point: str) -> list[float] | None:
    n = len(run.vectors)
    if point == "step10":
        return run.vectors[9] if n >= 10 else None
    return run.vectors[max(1, math.ceil(n / 2)) - 1]


def auroc(labels, scores) -> float:
    return roc_auc_score(labels, scores) if 0 < sum(labels) < len(labels) else float("nan")


def ece(labels, probs, bins: int = 10) -> float:
    total, n = 0.0, len(labels)
    for b in range(bins):
        inside = [(y, p) for y, p in zip(labels, probs) if b / bins <= p < (b + 1) / bins or (b == bins - 1 and p == 1)]
        if inside:
            total += (
                len(inside) / n * abs(sum(y for y, _ in inside) / len(inside) - sum(p for _, p in inside) / len(inside))
            )
    return total


def main() -> None:
    items = labelled()
    print(
        f"runs imported and labelled: {len(items)} "
        f"({', '.join(f'{c} {sum(1 for r, _ in items if r.executor == c)}' for c in COHORTS)})"
    )
    scored = []  # (run, history, model) out of fold
    for train_items, test_items in folds(items):
        model = train([r for r, _ in train_items], alpha=ALPHA)
        scored.extend((r, h, model) for r, h in test_items)

    print(f"\n== model, grouped {FOLDS}-fold CV by instance (out-of-fold scores) ==")
    print(f"{'cohort':32} {'point':9} {'AUROC':>6} {'target':>7} {'ECE':>6} {'n':>4}")
    for cohort, title in COHORTS.items():
        for point, target in (("step10", 0.70), ("half-run", 0.75)):
            if point == "step10" and cohort != "MINI_SWE_AGENT":
                continue
            rows = [
                (r.failed, m.score(at(r, point), r.executor))
                for r, _, m in scored
                if r.executor == cohort and at(r, point) is not None
            ]
            y, p = [int(a) for a, _ in rows], [b for _, b in rows]
            print(
                f"{title:32} {point:9} {auroc(y, p):6.3f} {'>=' + format(target, '.2f'):>7} "
                f"{ece(y, p):6.3f} {len(y):4d}"
            )
    print("ECE target: <= 0.05 per cohort")

    print(f"\n== alerts (conformal threshold, alpha {ALPHA}: at most {ALPHA:.0%} of successful runs alert) ==")
    for cohort, title in COHORTS.items():
        ok = fail = ok_alerted = 0
        caught, early_steps, unspent_tok, unspent_usd = 0, [], [], []
        for run, history, model in scored:
            if run.executor != cohort:
                continue
            threshold = model.threshold(cohort)
            first = next(
                (i + 1 for i, v in enumerate(run.vectors[: run.live]) if model.score(v, cohort) > threshold), None
            )
            if not run.failed:
                ok += 1
                ok_alerted += first is not None
            else:
                fail += 1
                if first is not None:
                    caught += 1
                    early_steps.append(first / len(run.vectors))
            if run.failed and first is not None:
                # tokens and dollars the run spent after the first alert: what stopping it there saves
                spent_tok, spent_usd = _spent_until(history, first)
                unspent_tok.append(history.tokens - spent_tok)
                unspent_usd.append(history.cost - spent_usd)
        print(
            f"{title:32} false alarms on successful runs {ok_alerted}/{ok} = {ok_alerted / max(ok, 1):.1%} "
            f"(target <= 10%); failed runs alerted {caught}/{fail} = {caught / max(fail, 1):.1%}"
        )
        if caught:
            print(
                f"{'':32} first alert at median {statistics.median(early_steps):.0%} of the run; unspent at it: "
                f"{sum(unspent_tok):,.0f} tokens, ${sum(unspent_usd):,.2f} "
                f"(median per alerted failed run {statistics.median(unspent_tok):,.0f} tokens, "
                f"${statistics.median(unspent_usd):.3f})"
            )

    print("\n== trained on one agent, tested on the other (half-run AUROC) ==")
    for source, target in (("MINI_SWE_AGENT", "SWE_AGENT"), ("SWE_AGENT", "MINI_SWE_AGENT")):
        model = train([r for r, _ in items if r.executor == source], alpha=ALPHA)
        rows = [(int(r.failed), model.score(at(r, "half-run"), r.executor)) for r, _ in items if r.executor == target]
        cross = auroc([a for a, _ in rows], [b for _, b in rows])
        own_rows = [
            (int(r.failed), m.score(at(r, "half-run"), r.executor)) for r, _, m in scored if r.executor == target
        ]
        own = auroc([a for a, _ in own_rows], [b for _, b in own_rows])
        print(
            f"train {COHORTS[source]:30} test {COHORTS[target]:30} AUROC {cross:.3f} "
            f"(in-domain CV {own:.3f}, drop {own - cross:+.3f})"
        )

    print("\n== baselines, same runs and points (AUROC of one feature alone) ==")
    index = {name: NAMES.index(name) for name in ("log_cost", "steps", "error_rate")}
    for cohort, title in COHORTS.items():
        for point in ("step10", "half-run"):
            if point == "step10" and cohort != "MINI_SWE_AGENT":
                continue
            runs = [r for r, _ in items if r.executor == cohort and at(r, point) is not None]
            y = [int(r.failed) for r in runs]
            parts = [
                f"{label} {auroc(y, [at(r, point)[i] for r in runs]):.3f}"
                for label, i in (
                    ("cost so far", index["log_cost"]),
                    ("steps", index["steps"]),
                    ("error rate", index["error_rate"]),
                )
            ]
            print(f"{title:32} {point:9} " + ", ".join(parts))
    print("\n== the seed's rule: cost >= $1 means failure ==")
    for cohort, title in COHORTS.items():
        pairs = [(r.failed, h.cost >= 1.0) for r, h in items if r.executor == cohort]
        tp = sum(f and a for f, a in pairs)
        fp = sum(a and not f for f, a in pairs)
        fn = sum(f and not a for f, a in pairs)
        y, p = [int(f) for f, _ in pairs], [int(a) for _, a in pairs]
        print(
            f"{title:32} whole run: alerts {tp + fp}/{len(pairs)}, precision {tp / max(tp + fp, 1):.3f}, "
            f"recall {tp / max(tp + fn, 1):.3f}, AUROC {auroc(y, p):.3f}"
        )


def scoring_cost() -> None:
    """Per event and per step, the detector's work on the watch path (features + score), beside
    decoding the same lines (the floor every detector pays anyway)."""
    import time

    import msgspec

    from agentlog.risk.features import State
    from agentlog.risk.model import load
    from agentlog.risk.score import step_risk
    from agentlog.watch.view import WatchEvent

    logs, _ = load_runs()
    lines = (logs / "agent-work-stream.jsonl").read_bytes().splitlines()[:200_000]
    decoder = msgspec.json.Decoder(WatchEvent)
    start = time.perf_counter()
    events = [decoder.decode(line) for line in lines]
    decode_s = time.perf_counter() - start
    model, states, steps = load(), {}, 0
    start = time.perf_counter()
    for event in events:
        state = states.get(event.attempt_id)
        if state is None or event.event_type == "session_start":
            state = states[event.attempt_id] = State()
        steps += step_risk(state, event, model) is not None
    risk_s = time.perf_counter() - start
    print(f"\n== cost on the watch path ({len(events):,} events, {steps:,} steps) ==")
    print(
        f"features + score: {risk_s / len(events) * 1e6:.2f} us/event, {risk_s / steps * 1e6:.1f} us/step "
        f"(target < 1 ms/step); decoding the same lines: {decode_s / len(events) * 1e6:.2f} us/event"
    )


def _spent_until(history, step: int) -> tuple[float, float]:
    """Tokens and dollars spent by the end of `step` (the features hold them, log-scaled)."""
    vector = history.vectors[step - 1]
    return math.expm1(vector[NAMES.index("log_tokens")]), math.expm1(vector[NAMES.index("log_cost")])


if __name__ == "__main__":
    main()
    scoring_cost()
