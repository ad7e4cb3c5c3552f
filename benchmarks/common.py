"""What both benchmarks share: the machine they ran on, a fixed-width table, and the JSON report."""

import os
import platform
import subprocess
from pathlib import Path

import torch

from nst_ff.io import jsonfile

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU, cores, threads torch uses, GPU if any, library versions and the git commit measured."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += "+changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": commit,
    }


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """columns: (key, header, format spec); one line per row under a header line."""
    table = [[format(row[key], spec) if row.get(key) is not None else "-" for key, _, spec in columns]
             for row in rows]
    widths = [max([len(header), 9] + [len(cells[i]) for cells in table]) for i, (_, header, _) in enumerate(columns)]
    lines = ["  ".join(header.rjust(w) for (_, header, _), w in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(cells, widths, strict=True)) for cells in table]
    return "\n".join(lines)


def write_json(path: str | os.PathLike, report: dict) -> None:
    jsonfile.write(path, report)
