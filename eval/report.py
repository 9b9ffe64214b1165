"""Reports of an eval run, and the regression gate against a baseline.

`write_report(out_dir, {"system": records, ...})` writes

- `report.json`: {"summary": ..., "questions": [...]} for the first system, plus
  "systems": {name: {"summary", "questions"}} when several systems are compared;
- `report.md`: a summary table (one column per system when several) and the
  questions the first system got wrong;
- `report.png`: a bar chart of the rate metrics (0..1), one bar per system; a metric
  that is n/a (None) is left out, not drawn as 0.

Regression gate (`compare`, or `python -m eval.report NEW.json BASELINE.json`):

- rate metrics are those of a gold-set summary (RATE_METRICS) or of a SQuAD summary
  (SQUAD_RATE_METRICS); the higher-is-better ones regress when they drop by more than
  `tolerance` (absolute, default 0.05);
- LOWER_IS_BETTER (false_abstention_rate; SQuAD's abstention_rate, as every SQuAD v1.1
  question has an answer) regress when they rise by more than `tolerance`;
- latency_p50_s / latency_p95_s regress when they rise by more than 50%
  (`latency_increase`, relative);
- token counts are reported but never gated; a metric missing (None) on either
  side is skipped, but a baseline with no rate metric in common with the run is an
  error (a SQuAD run against a gold-set baseline, say), not a pass;
- a different n_questions or k on the two sides is printed as a warning on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from eval.metrics import SUMMARY_KEYS, summarise

# Derived from the summary's keys, so a metric added there is gated here too.
LATENCY_METRICS = tuple(k for k in SUMMARY_KEYS if k.startswith("latency_"))
RATE_METRICS = tuple(k for k in SUMMARY_KEYS if k not in LATENCY_METRICS and not k.endswith("_tokens"))
# The rate keys of `eval.runner.squad_summary`.
SQUAD_RATE_METRICS = ("em", "f1", "recall_at_k", "bm25_recall_at_k", "abstention_rate")
LOWER_IS_BETTER = ("false_abstention_rate", "abstention_rate")


class Regression(NamedTuple):
    metric: str
    old: float
    new: float


def compare(
    summary: Mapping[str, Any],
    baseline_summary: Mapping[str, Any],
    tolerance: float = 0.05,
    latency_increase: float = 0.5,
) -> list[Regression]:
    """The metrics on which `summary` is worse than `baseline_summary` (rules in the module doc).

    Raises ValueError when the two have no rate metric in common (only latency to compare)."""
    rates = RATE_METRICS + SQUAD_RATE_METRICS
    if not any(None not in (summary.get(m), baseline_summary.get(m)) for m in rates):
        have = [", ".join(m for m in rates if s.get(m) is not None) or "none" for s in (summary, baseline_summary)]
        raise ValueError(
            f"the baseline has no metric in common with this run (run: {have[0]}; baseline: {have[1]}); "
            "compare against a baseline of the same kind of run (gold set or SQuAD)"
        )
    for key in ("n_questions", "k"):
        old, new = baseline_summary.get(key), summary.get(key)
        if None not in (old, new) and old != new:
            print(f"warning: {key} differs: run {new}, baseline {old}; scores may not be comparable", file=sys.stderr)
    regressions = []
    for metric in rates + LATENCY_METRICS:
        old, new = baseline_summary.get(metric), summary.get(metric)
        if old is None or new is None:
            continue
        if metric in LATENCY_METRICS:
            worse = new > old * (1 + latency_increase)
        elif metric in LOWER_IS_BETTER:
            worse = new - old > tolerance
        else:
            worse = old - new > tolerance
        if worse:
            regressions.append(Regression(metric, old, new))
    return regressions


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _cell(text: str) -> str:
    """Text for one markdown table cell: on one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown(systems: Mapping[str, Mapping[str, Any]]) -> str:
    """report.md text from {name: {"summary", "questions"}} (first system is the main one)."""
    names = list(systems)
    keys = list(SUMMARY_KEYS) + ["n_questions", "n_answerable", "n_unanswerable", "n_conflict", "n_errors", "k"]
    lines = ["# Eval report", ""]
    if len(names) > 1:
        lines += ["## Systems side by side", ""]
    lines += ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(_fmt(systems[n]["summary"].get(key)) for n in names) + " |")

    main = names[0]
    wrong = [
        q
        for q in systems[main]["questions"]
        if (q["answerable"] and q["answer_correct"] is False) or (not q["answerable"] and not q["abstained"])
    ]
    lines += ["", f"## Questions {main} got wrong ({len(wrong)})", ""]
    if wrong:
        lines += ["| id | question | facts found | abstained | answer |", "|---|---|---|---|---|"]
        for q in wrong:
            answer = _cell(q["answer"])
            answer = answer if len(answer) <= 160 else answer[:157] + "..."
            found = f"{sum(q['facts_found'])}/{len(q['facts_found'])}" if q["answerable"] else "n/a"
            lines.append(f"| {_cell(q['id'])} | {_cell(q['question'])} | {found} | {_fmt(q['abstained'])} | {answer} |")
    return "\n".join(lines) + "\n"


def bar_chart(systems: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    """Grouped bars: one group per rate metric, one bar per system; None (n/a) is not drawn,
    and a metric n/a for every system has no group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(systems)
    metrics = [m for m in RATE_METRICS if any(s["summary"].get(m) is not None for s in systems.values())]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for i, name in enumerate(names):
        shown = [(x, v) for x, v in enumerate(systems[name]["summary"].get(m) for m in metrics) if v is not None]
        xs = [x + (i - (len(names) - 1) / 2) * width for x, _ in shown]
        ax.bar(xs, [v for _, v in shown], width, label=name)
    ax.set_xticks(range(len(metrics)))
    labels = [f"{m} (lower is better)" if m in LOWER_IS_BETTER else m for m in metrics]
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (0..1)")
    ax.set_title("Eval metrics per system")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out_dir: str | Path,
    results: Mapping[str, Sequence[Mapping[str, Any]]],
    chart: bool = True,
) -> dict[str, Path]:
    """Write report.json, report.md and (if `chart`) report.png for {system name: records}.

    The first system is the main one: its summary and questions are at the top level.
    Returns the paths written.
    """
    if not results:
        raise ValueError("write_report needs the records of at least one system")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    systems = {name: {"summary": summarise(records), "questions": list(records)} for name, records in results.items()}
    main = next(iter(systems.values()))
    doc: dict[str, Any] = {"summary": main["summary"], "questions": main["questions"]}
    if len(systems) > 1:
        doc["systems"] = systems

    paths = {"json": out / "report.json", "md": out / "report.md"}
    paths["json"].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(systems), encoding="utf-8")
    if chart:
        paths["png"] = out / "report.png"
        bar_chart(systems, paths["png"])
    return paths


def load_summary(path: str | Path) -> dict[str, Any]:
    """The summary of a report.json, of the folder `rag eval --out` wrote it in, or of a bare
    summary JSON file."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc.get("summary", doc)


def main(argv: Sequence[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m eval.report NEW_report.json BASELINE_report.json [TOLERANCE]", file=sys.stderr)
        return 2
    try:
        tolerance = float(argv[2]) if len(argv) == 3 else 0.05
        regressions = compare(load_summary(argv[0]), load_summary(argv[1]), tolerance)
    except (ValueError, OSError) as e:  # a bad number, a missing or unreadable file, not JSON
        print(f"cannot compare: {e}", file=sys.stderr)
        return 2
    for r in regressions:
        print(f"REGRESSION {r.metric}: {_fmt(r.old)} -> {_fmt(r.new)}")
    if not regressions:
        print("no regressions")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
