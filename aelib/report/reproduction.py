"""The reproduction report: the verdict of :func:`aelib.experiments.reproduction.compare_runs`, a summary per
table and the numbers that changed, written beside the new run."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from aelib.config import portable_path, project_root
from aelib.experiments.reproduction import TOLERANCES, Comparison
from aelib.layout import ResultsLayout
from aelib.outputs import atomic_output

_REPORT_HEAD = re.compile(
    r"^This run \(`(?P<new>[^`]+)`\) against the committed one \(`(?P<committed>[^`]+)`\), on (?P<machine>.+), "
    r"(?P<date>\d{4}-\d{2}-\d{2})\.$\n\n\*\*Verdict: (?P<verdict>.+)\.\*\*$",
    re.M,
)


def report_summary(report: str) -> dict[str, str] | None:
    """From a report of :func:`write_report`: the two folders, the machine, the date and the verdict (None if the
    text is not such a report)."""
    match = _REPORT_HEAD.search(report)
    return None if match is None else match.groupdict()


def write_report(comparison: Comparison, committed_dir: Path, new_dir: Path, machine: str) -> Path:
    """The reproduction report (verdict, per-table summary, the numbers that changed) and every number, in new_dir's
    ``runs/`` (:class:`aelib.layout.ResultsLayout`); returns the report's path. Its first lines, read back by
    :func:`report_summary`, name the folders (relative to the checkout), the machine and the date."""
    numbers = comparison.numbers
    layout = ResultsLayout(new_dir)
    with atomic_output(layout.reproduction_numbers) as temporary:
        numbers.to_csv(temporary, index=False)
    lines = [
        "# Reproduction report",
        "",
        f"This run (`{portable_path(new_dir, project_root())}`) against the committed one "
        f"(`{portable_path(committed_dir, project_root())}`), on {machine}, {datetime.date.today().isoformat()}.",
        "",
        f"**Verdict: {comparison.verdict}.**",
        "",
        f"Every number of every table: `{layout.relative(layout.reproduction_numbers)}`. "
        f"Timing columns ({comparison.timing_columns}) depend on "
        "the machine and are not compared. Tolerances, for a run on another CPU or in another precision: "
        + "; ".join(f"`{t.pattern}` {t.describe()}" for t in TOLERANCES)
        + " (first match of the column name).",
        "",
    ]
    if not numbers.empty:
        summary = numbers.groupby("table", sort=True).agg(
            numbers=("identical", "size"), identical=("identical", "sum"), within=("within", "sum")
        )
        lines += ["| table | numbers | identical | within tolerance |", "|---|---:|---:|---:|"]
        lines += [f"| {t} | {r.numbers} | {r.identical} | {r.within} |" for t, r in summary.iterrows()]
        lines.append("")
        changed = numbers[~numbers["identical"]]
        if not changed.empty:
            lines += ["The numbers that changed, largest first (at most 50):", ""]
            shown = changed.reindex(changed["difference"].abs().sort_values(ascending=False).index).head(50)
            lines += ["| table | row | column | committed | new | difference | tolerance | within |", "|---" * 8 + "|"]
            lines += [
                f"| {r.table} | {r.label} | {r.column} | {r.committed:.6g} | {r.new:.6g} | {r.difference:+.3g} | "
                f"{r.tolerance} | {'yes' if r.within else '**no**'} |"
                for r in shown.itertuples()
            ]
            lines.append("")
    if comparison.not_compared:
        lines += ["Not compared:", ""] + [f"- `{t}`: {why}" for t, why in comparison.not_compared.items()] + [""]
    report = layout.reproduction_report
    with atomic_output(report) as temporary:
        temporary.write_text("\n".join(lines))
    return report
