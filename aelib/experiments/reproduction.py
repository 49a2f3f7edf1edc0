"""How close a new run came to a committed one: every number of every table, compared.

``aelib reproduce`` into a committed example's place runs into a folder of its
own (:func:`rerun_folder`) and ends with :func:`compare_runs` against the
committed tables: for each number, the committed value, the new one, the
difference, whether they are identical, and whether the difference lies within
the documented tolerance of its kind (:data:`TOLERANCES`). Identical is what
the same kind of machine gives (the study's runs are seeded and resumable step
by step); the tolerances are for a run on another CPU or in another precision
of the perceptual loss (bfloat16 where the CPU has AVX512-BF16 or AMX, float32
elsewhere), which changes the trained weights a little. Timing columns depend
on the machine and are not compared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aelib.config import project_root
from aelib.layout import ResultsLayout

RERUNS_FOLDER = "reproduced"
"""Where a rerun of a committed example goes, under the checkout's root (ignored by git)."""

TIMING = re.compile(r"(_s|_ms|seconds|time)$|time_per|seconds")
"""Columns measured in time, which depend on the machine: reported as not compared."""


@dataclass(frozen=True)
class Tolerance:
    """How far a number of one kind may move on another machine: absolute, or relative to the committed value."""

    pattern: str
    absolute: float = 0.0
    relative: float = 0.0

    def allows(self, committed: float, new: float) -> bool:
        slack = 1e-9 * max(1.0, abs(committed))  # 30.1 − 30.0 is 0.1000000000000014 in binary
        return abs(new - committed) <= self.absolute + self.relative * abs(committed) + slack

    def describe(self) -> str:
        if self.relative:
            return f"±{100 * self.relative:g} %"
        return f"±{self.absolute:g}"


TOLERANCES = (
    Tolerance(r"^bd_(psnr|ssim_db|ms_ssim_db)(_ci_low|_ci_high)?$", absolute=0.1),  # BD-quality, dB at equal rate
    Tolerance(r"^bd_lpips", absolute=0.002),
    Tolerance(r"^bd_rate|_ci_low$|_ci_high$", absolute=2.0),  # BD-rates and their intervals, percentage points
    Tolerance(r"_from$|_to$", absolute=0.1),  # the ends of a BD-rate's quality range
    Tolerance(r"bpp|bits|bytes|ratio|quality", relative=0.02),  # rates, sizes, ratios, matched JPEG qualities
    Tolerance(r"psnr|_db|shift", absolute=0.1),  # dB, SSIM in dB, colour shifts in levels
    Tolerance(r"ssim|lpips", absolute=0.002),
    Tolerance(r".*", relative=0.01),
)
"""The documented tolerance of each kind of number, first match of the column name wins (docs/reproducing.md)."""


def tolerance_for(column: str) -> Tolerance:
    return next(t for t in TOLERANCES if re.search(t.pattern, column))


def rerun_folder(output_dir: str | Path) -> Path:
    """Where ``aelib reproduce --out OUTPUT`` runs when OUTPUT is a committed example: reproduced/OUTPUT."""
    relative = Path(output_dir).resolve().relative_to(project_root())
    return project_root() / RERUNS_FOLDER / relative


def _numeric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c]) and not TIMING.search(c)]


def _compare_table(name: str, committed: pd.DataFrame, new: pd.DataFrame) -> tuple[list[dict], str | None]:
    """The rows of every compared number of one table, or why the table could not be compared.

    Columns that only the new run has (a measurement added since the committed run) are left out; a committed
    column the new run lacks, or another number of rows, makes the table incomparable.
    """
    lost = [c for c in committed.columns if c not in new.columns]
    if lost or len(committed) != len(new):
        lost_text = f"; lost: {', '.join(lost)}" if lost else ""
        return [], f"its shape differs ({committed.shape} committed, {new.shape} new{lost_text})"
    new = new[list(committed.columns)]
    keys = [c for c in committed.columns if not pd.api.types.is_numeric_dtype(committed[c])]
    if not committed[keys].astype(str).equals(new[keys].astype(str)):
        return [], "its labels (methods, images, settings) differ"
    rows = []
    for column in _numeric_columns(committed):
        tolerance = tolerance_for(column)
        for index, (a, b) in enumerate(zip(committed[column].to_numpy(float), new[column].to_numpy(float))):
            both_missing = math.isnan(a) and math.isnan(b)
            identical = both_missing or a == b
            within = identical or (not math.isnan(a) and not math.isnan(b) and tolerance.allows(a, b))
            rows.append(
                {
                    "table": name,
                    "row": index,
                    "label": " / ".join(str(committed[k].iloc[index]) for k in keys),
                    "column": column,
                    "committed": a,
                    "new": b,
                    "difference": b - a,
                    "tolerance": tolerance.describe(),
                    "identical": identical,
                    "within": within,
                }
            )
    return rows, None


@dataclass(frozen=True)
class Comparison:
    """Every compared number, the tables that could not be compared and why, and the timing columns left out."""

    numbers: pd.DataFrame
    not_compared: dict[str, str]
    timing_columns: int

    @property
    def verdict(self) -> str:
        """One line: identical, within the tolerances, or how many numbers are beyond them."""
        count = len(self.numbers)
        if count == 0:
            return "nothing to compare: no table of the committed run was found in the new one"
        changed = int((~self.numbers["identical"]).sum())
        beyond = self.numbers[~self.numbers["within"]]
        missing = f"; {len(self.not_compared)} table(s) not compared" if self.not_compared else ""
        if changed == 0:
            return f"identical: all {count:,} numbers of {self.numbers['table'].nunique()} tables equal{missing}"
        if beyond.empty:
            return (
                f"within tolerances: {changed:,} of {count:,} numbers differ, every one within its tolerance{missing}"
            )
        worst = beyond.iloc[int(np.argmax(np.abs(beyond["difference"].to_numpy(float))))]
        return (
            f"differs: {len(beyond):,} of {count:,} numbers beyond their tolerance (largest: {worst['table']} "
            f"{worst['column']} of {worst['label']}, {worst['committed']:.6g} → {worst['new']:.6g}){missing}"
        )


def compare_runs(committed_dir: str | Path, new_dir: str | Path) -> Comparison:
    """Compares every CSV table of committed_dir/tables with the same table of new_dir/tables."""
    committed, new = ResultsLayout(committed_dir), ResultsLayout(new_dir)
    rows, not_compared, timing = [], {}, 0
    for path in sorted(committed.tables.glob("*.csv")):
        other = new.tables / path.name
        if not other.is_file():
            not_compared[path.name] = "the new run has no such table"
            continue
        before, after = pd.read_csv(path), pd.read_csv(other)
        timing += sum(bool(TIMING.search(c)) and pd.api.types.is_numeric_dtype(before[c]) for c in before)
        table_rows, reason = _compare_table(path.name, before, after)
        rows += table_rows
        if reason is not None:
            not_compared[path.name] = reason
    columns = ["table", "row", "label", "column", "committed", "new", "difference", "tolerance", "identical", "within"]
    return Comparison(pd.DataFrame(rows, columns=columns), not_compared, timing)
