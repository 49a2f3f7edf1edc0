"""Tables as files: CSV for programs and, beside it, Markdown for readers headed by a provenance line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aelib.outputs import atomic_output


def format_markdown(table: pd.DataFrame) -> str:
    """A table as Markdown, column names with spaces, four significant digits."""
    table = table.copy()
    table.columns = [c.replace("_", " ") for c in table.columns]
    return table.to_markdown(index=False, floatfmt=".4g")


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Writes a table as CSV atomically, creating the folder."""
    with atomic_output(path) as temporary:
        table.to_csv(temporary, index=False)
    return Path(path)


def write_table(
    table: pd.DataFrame, csv_path: str | Path, provenance: str, markdown: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    """Writes a table as CSV and, beside it with the suffix .md, as Markdown (provenance line, blank line, table).

    Args:
        table: what the CSV holds.
        csv_path: the CSV's path, e.g. ``ResultsLayout(out).rd_ladder``.
        provenance: the line heading the Markdown file (data, command).
        markdown: a readable form of the table for the Markdown file (default: the table itself).

    Returns:
        The CSV's and the Markdown file's paths.
    """
    csv = write_csv(table, csv_path)
    markdown_path = csv.with_suffix(".md")
    shown = table if markdown is None else markdown
    with atomic_output(markdown_path) as temporary:
        temporary.write_text(f"{provenance}\n\n{format_markdown(shown)}\n")
    return csv, markdown_path
