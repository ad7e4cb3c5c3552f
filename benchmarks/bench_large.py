"""Peak memory and time of `stylize.py` on one large photo, tiled (the default above 4 megapixels) or whole.

Each size runs in its own process, as a user would run it: reading the JPEG, stylizing in one style, writing
a JPEG. Peak MB is that process's peak resident memory; seconds are its wall time, start-up included.

    python benchmarks/bench_large.py --sizes 4096 8192          # tiled, as stylize.py chooses
    python benchmarks/bench_large.py --sizes 2048 4096 --tile 0  # whole images, for comparison
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import ROOT, format_table, machine, write_json  # noqa: E402

from nst_ff.model.checkpoint import export  # noqa: E402
from nst_ff.model.transformer import StyleTransferNetwork  # noqa: E402

COLUMNS = [("size", "size", "d"), ("tile", "tile", ""), ("megapixels", "MP", ".1f"), ("seconds", "seconds", ".1f"),
           ("stylize_seconds", "network s", ".1f"), ("peak_memory_mb", "peak MB", ".0f")]


def run(size: int, tile: str, workdir: Path, checkpoint: Path) -> dict:
    photo = workdir / f"photo_{size}.jpg"
    if not photo.exists():  # a real photo enlarged, so that the network sees natural content
        source = Image.open(ROOT / "demo" / "content" / sorted(os.listdir(ROOT / "demo" / "content"))[0])
        source.convert("RGB").resize((size, size), Image.BICUBIC).save(photo, quality=95)
    output = workdir / f"out_{size}_{tile}.jpg"
    command = [sys.executable, str(ROOT / "stylize.py"), "--ckpt", str(checkpoint), "--input", str(photo),
               "--style", "0", "--output", str(output), "--overwrite", "--json"]
    if tile != "auto":
        command += ["--tile", tile]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory, not the largest child's so far
    seconds = time.perf_counter() - start
    stdout = process.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stylize.py failed at {size} px (exit {os.waitstatus_to_exitcode(status)})")
    record = json.loads(stdout.strip().splitlines()[-1])
    return {"size": size, "tile": tile, "megapixels": size * size / 1e6, "seconds": seconds,
            "stylize_seconds": record["seconds"], "peak_memory_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192], help="square photo sizes in pixels")
    parser.add_argument("--tile", default="auto", help="auto (stylize.py's choice), 0 (never) or a tile size")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "network.pt"
        export(checkpoint, StyleTransferNetwork(6), [f"style{i}" for i in range(6)])  # speed ignores the weights
        rows = [run(size, args.tile, Path(tmp), checkpoint) for size in args.sizes]
    print(format_table(rows, COLUMNS))
    if args.json:
        write_json(args.json, {"machine": machine(), "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
