"""Rewrites the absolute paths in committed run records as today's code writes them: relative.

Runs made before paths were portable (issue 28) recorded this checkout's absolute
folder in their executed notebooks and table captions ("/work/main/results",
"/work/shared/data/utkface"). Today's pipeline writes the same records with paths
relative to where they are read (:func:`aelib.config.portable_path`): papermill's
input path relative to the checkout, a notebook's parameters and printed paths
relative to ``notebooks/`` (the kernel's folder), a dataset's description relative
to the checkout. This script gives the older records the same form; it changes no
number. Run from the checkout that wrote the records:

    python scripts/portable_records.py            # rewrites results/ and docs/ in place
    python scripts/portable_records.py --check    # lists what it would change, exit 1 if anything
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from aelib.config import RECORD_SUFFIXES, project_root


def portable_text(text: str, suffix: str, root: Path) -> str:
    """text with root (the checkout) and its parent (the workspace) made relative, as the record's reader sees it."""
    checkout, workspace = str(root), str(root.parent)
    # A dataset's description ("utkface (PATH)") is relative to the checkout wherever it is printed.
    text = re.sub(rf"\({re.escape(workspace)}/", "(../", text)
    if suffix == ".ipynb":
        text = text.replace(f'"input_path": "{checkout}/', '"input_path": "')
        text = text.replace(f'"output_path": "{checkout}/', '"output_path": "')
        text = text.replace(f"{checkout}/", "../").replace(f"{workspace}/", "../../")
    else:
        text = text.replace(f"{checkout}/", "").replace(f"{workspace}/", "../")
    return text


def committed_records(root: Path) -> list[Path]:
    """The tracked text records under results/ and docs/."""
    listed = subprocess.run(
        ["git", "ls-files", "results", "docs"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    return [root / name for name in listed if name.endswith(RECORD_SUFFIXES)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list what holds absolute paths; change nothing")
    args = parser.parse_args()
    root = project_root()
    changed = []
    for path in committed_records(root):
        text = path.read_text(encoding="utf-8")
        portable = portable_text(text, path.suffix, root)
        if portable != text:
            changed.append(path.relative_to(root))
            if not args.check:
                path.write_text(portable, encoding="utf-8")
    for name in changed:
        print(("holds absolute paths: " if args.check else "rewritten: ") + str(name))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
