"""One JSON and one markdown table from gpu.sh's benchmark reports: training steps/s and peak memory, stylize
images/s per backend, and video frames/s per --temporal mode, with the GPU's name. Two training reports (as
configured, then compiled in channels-last) join into one, rows in the order given: each row names its own compile
and layout, and the joined report keeps the first one's settings.

    python benchmarks/gpu_report.py train.json train_fast.json stylize.json video.json --json gpu.json --markdown gpu.md
"""

import argparse
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import write_json  # noqa: E402

HEADER = "| figure | backend | precision | compile | size | batch | per second | peak MB |"


def rows(report: dict) -> list[str]:
    """Markdown rows: steps/s for a training report, images/s for a stylize report, frames/s for a video report."""
    lines = []
    for r in report["results"]:
        if report["benchmark"] == "train":
            layout = ", channels-last" if r.get("channels_last") else ""
            cells = ["training steps/s", "torch" + layout, r["precision"], "on" if r["compile"] else "off", r["size"],
                     r["batch"], f"{r['steps_per_s']:.2f}", f"{r['peak_memory_mb']:.0f}"]
        elif report["benchmark"] == "stylize":
            cells = ["stylize images/s", r["backend"], r["precision"], r["compile"] or "-", r["size"], r["batch"],
                     f"{r['images_per_s']:.2f}", f"{r['peak_memory_mb']:.0f}"]
        else:  # video: the network, then (flow and on) OpenCV's flow blend on the CPU, as stylize.py paints clips
            peak = r["peak_memory_mb"]  # CUDA only
            cells = [f"video frames/s, --temporal {r['mode']}",
                     "torch + CPU flow" if r["mode"] in ("flow", "on") else "torch", report["precision"], "-",
                     f"{report['args']['height']}p", report["args"]["batch"], f"{r['fps']:.2f}",
                     "-" if peak is None else f"{peak:.0f}"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="JSON files of bench_train.py, bench_stylize.py and bench_video.py")
    parser.add_argument("--note", default="", help="a line under the table (what was skipped, and why)")
    parser.add_argument("--json", required=True)
    parser.add_argument("--markdown", required=True)
    args = parser.parse_args(argv)
    reports = []
    for path in args.reports:
        report = json.loads(Path(path).read_text())
        same = [seen for seen in reports if seen["benchmark"] == report["benchmark"] == "train"]
        if same:
            same[0]["results"] += report["results"]
        else:
            reports.append(report)
    machine = reports[0]["machine"]
    lines = [f"{machine['gpu'] or 'no GPU (dry run on the CPU)'}, {machine['cpu']}, torch {machine['torch']}, "
             f"commit {machine['commit']}", "", HEADER, "|---|---|---|---|---:|---:|---:|---:|"]
    lines += [line for report in reports for line in rows(report)]
    lines += ["", args.note] if args.note else []
    write_json(args.json, {"benchmark": "gpu", "machine": machine, "note": args.note,
                           "reports": {report["benchmark"]: report for report in reports}})
    Path(args.markdown).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
