"""A Markdown table of the quality/* scalars that training logs with each style grid, for several runs side
by side: identification, style gain and content error against steps and wall-clock minutes.

    python benchmarks/quality_table.py runs/demo runs/other_run [--steps 60,120,180]
"""

import argparse
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

METRICS = ("identified", "style_gain", "content")


def read_quality(run_dir: str) -> list[dict]:
    """[{step, minutes, identified, style_gain, content}] in step order; minutes since the first logged scalar
    (step 1's quality, or the first loss: start-up is not counted)."""
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    tags = events.Tags()["scalars"]
    if "quality/identified" not in tags:
        raise SystemExit(f"quality_table.py: error: {run_dir} holds no quality/* scalars")
    start = min(event.wall_time for tag in tags for event in events.Scalars(tag))
    rows = {}
    for metric in METRICS:
        for event in events.Scalars(f"quality/{metric}"):
            row = rows.setdefault(event.step, {"step": event.step})
            row[metric] = event.value
            row["minutes"] = (event.wall_time - start) / 60
    return [rows[step] for step in sorted(rows)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="TensorBoard run folders (runs/<run_name>)")
    parser.add_argument("--steps", help="comma-separated steps to show (default: every logged one)")
    args = parser.parse_args(argv)
    wanted = {int(step) for step in args.steps.split(",")} if args.steps else None
    tables = {run: read_quality(run) for run in args.runs}
    print("| run | step | minutes | identified | style gain | content |")
    print("|---|---:|---:|---:|---:|---:|")
    for run, rows in tables.items():
        for row in rows:
            if wanted is None or row["step"] in wanted:
                name = run.rstrip("/").split("/")[-1]
                print(f"| {name} | {row['step']} | {row['minutes']:.1f} | {row['identified']:.0%} |"
                      f" {row['style_gain']:.3f} | {row['content']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
