"""Markdown tables from benchmark reports, to paste into BENCHMARKS.md after a re-run:
`python benchmarks/to_markdown.py benchmarks/results/*.json`."""

import json
import sys

COLUMNS = {
    "stylize": [("backend", "backend", ""), ("precision", "precision", ""), ("compile", "compile", ""),
                ("size", "size", "d"), ("batch", "batch", "d"), ("ms_per_image", "ms/image", ".1f"),
                ("images_per_s", "images/s", ".2f"), ("gmac_per_image", "GMAC/image", ".2f"),
                ("gmac_per_s", "GMAC/s", ".1f"), ("peak_memory_mb", "peak MB", ".0f")],
    "train": [("device", "device", ""), ("precision", "precision", ""), ("batch", "batch", "d"), ("size", "size", "d"),
              ("steps", "timed steps", "d"), ("s_per_step", "s/step", ".2f"), ("steps_per_s", "steps/s", ".3f"),
              ("images_per_s", "images/s", ".2f"), ("data_ms_per_step", "wait ms/step", ".0f"),
              ("peak_memory_mb", "peak MB", ".0f")],
}


def markdown(report: dict, name: str) -> str:
    m, columns = report["machine"], COLUMNS[report["benchmark"]]
    lines = [f"`{name}`: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, "
             f"{m['gpu'] or 'no GPU'}, torch {m['torch']}, commit {m['commit']}", "",
             "| " + " | ".join(header for _, header, _ in columns) + " |",
             "|" + "---:|" * len(columns)]
    for row in report["results"]:
        cells = [format(row[key], spec) if row.get(key) is not None else "-" for key, _, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    for path in sys.argv[1:]:
        with open(path) as f:
            print(markdown(json.load(f), path) + "\n")
