"""Flicker of stylized video: Lai et al.'s warping error on synthetic clips whose motion is known exactly, for each
--temporal mode, with the style gain and content error of the same frames (nst_ff/measure/quality.py's yardstick)
and the frames per second of painting them.

A clip is a slow pan or a slow zoom over a real photo, each frame saved as a JPEG (quality 75) with a little
sensor noise, so that consecutive frames differ as a phone clip's do. The warping error (ECCV 2018) is the mean
squared difference between each output frame and the previous output moved by the true motion, over the pixels
both frames see, times 1000.

    python benchmarks/bench_video.py --ckpt /tmp/video_demo_ckpt/last.ckpt --style the_scream --height 360
    ... --default-path   # also stylize.py's default for a .ckpt on the CPU: its cached export on OpenVINO + the flow
    ... --device cuda    # the network in bf16 on the GPU, with its peak memory (the flow blend stays on the CPU)
    ... --clips phone.mp4  # also real clips: their first --frames frames, the warping error from DIS flow alone

Every clip also gets the warping error measured as on a real clip, from the input frames' estimated flow
(flow_warping.py, "warp err DIS"): on the synthetic clips it shows how far that estimate agrees with the exact one.
"""

import argparse
import io
import sys
import time
from functools import partial
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import save_image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from common import ROOT, format_table, machine, write_json  # noqa: E402
from flow_warping import flow_warping_error, trusted_backward_flows  # noqa: E402

from nst_ff.infer.clips import painter, temporal_parts  # noqa: E402
from nst_ff.infer.export_cache import CACHE_VARIABLE, ExportedNetwork, ExportFailed, can_accelerate, export_into_cache  # noqa: E402
from nst_ff.infer.openvino_model import OpenVinoNetwork  # noqa: E402
from nst_ff.infer.styles import parse_styles  # noqa: E402
from nst_ff.infer.stylizer import Painting  # noqa: E402
from nst_ff.infer.temporal import FlowBlend, SceneCuts  # noqa: E402
from nst_ff.infer.video import require_av  # noqa: E402
from nst_ff.io.images import read_image  # noqa: E402
from nst_ff.loss.perceptual import relative_error  # noqa: E402
from nst_ff.measure.quality import PAINTING_SIZE, Yardstick  # noqa: E402
from nst_ff.model.checkpoint import load_checkpoint  # noqa: E402
from nst_ff.train.data import load_styles  # noqa: E402
from nst_ff.train.stability import warp  # noqa: E402

MODES = ("off", "norms", "flow", "on")
DEFAULT_PATH = "on, OpenVINO"  # the row of --default-path
COLUMNS = [("clip", "clip", ""), ("mode", "--temporal", ""), ("warping_error", "warp err", ".3f"),
           ("relative_warping_error", "vs off", ".2f"), ("flow_warping_error", "warp err DIS", ".3f"),
           ("relative_flow_warping_error", "vs off", ".2f"), ("input_flow_warping_error", "input's DIS", ".3f"),
           ("style_gain", "style gain", ".3f"),
           ("content", "content", ".3f"), ("fps", "frames/s", ".2f")]
PEAK_COLUMN = ("peak_memory_mb", "peak MB", ".0f")  # CUDA only
# The precision the network paints in on each device: bf16 on a GPU, as stylize.py --precision bf16 there.
PRECISIONS = {"cpu": "fp32", "cuda": "bf16"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def camera(kind: str, frames: int, width: int, height: int, source_size: tuple[int, int]) -> torch.Tensor:
    """Affine matrices [T, 2, 3] from each frame's normalised coordinates to the photo's: a pan of 2 source
    pixels per frame to the right, or a zoom in of 0.3 % per frame about the centre."""
    source_height, source_width = source_size
    sx, sy = width / source_width, height / source_height  # the window's size, as a share of the photo
    theta = torch.zeros(frames, 2, 3)
    t = torch.arange(frames, dtype=torch.float)
    if kind == "pan":
        theta[:, 0, 0], theta[:, 1, 1] = sx, sy
        theta[:, 0, 2] = -(1 - sx) + 2 * 2 * t / source_width  # from the left edge, 2 px a frame
    else:
        scale = 0.997 ** t  # each frame shows 0.3 % less of the photo
        theta[:, 0, 0], theta[:, 1, 1] = sx * scale, sy * scale
    return theta


def relative_motion(theta: torch.Tensor) -> torch.Tensor:
    """For frames 1..T-1: the map from a frame's normalised coordinates to the previous frame's, [T-1, 2, 3]."""
    square = torch.cat([theta, torch.tensor([0.0, 0, 1]).expand(len(theta), 1, 3)], dim=1)  # [T, 3, 3]
    return (torch.linalg.inv(square[:-1]) @ square[1:])[:, :2]


def jpeg_noise(frame: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A frame as a phone would deliver it: sensor noise, then JPEG quality 75."""
    noisy = (frame + 0.01 * torch.randn(frame.shape, generator=generator)).clamp(0, 1)
    buffer = io.BytesIO()
    TF.to_pil_image(noisy).save(buffer, format="JPEG", quality=75)
    return TF.pil_to_tensor(Image.open(buffer)).float() / 255


def synthetic_clip(photo: Path, kind: str, frames: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames [T, 3, H, W] in [0, 1], true relative motion [T-1, 2, 3]); 16:9 frames over the photo enlarged
    so that the frame's height is 80 % of the photo's."""
    width = round(height * 16 / 9 / 2) * 2
    image = read_image(photo)
    source = TF.resize(image, [round(height / 0.8), round(height / 0.8 * image.shape[2] / image.shape[1])],
                       antialias=True)
    if source.shape[2] < width * 1.25:  # a portrait photo: widen it so the window fits with room to pan
        source = TF.resize(source, [round(source.shape[1] * width * 1.25 / source.shape[2]), round(width * 1.25)],
                           antialias=True)
    theta = camera(kind, frames, width, height, tuple(source.shape[1:]))
    grid = torch.nn.functional.affine_grid(theta, [frames, 3, height, width], align_corners=False)
    clean = torch.nn.functional.grid_sample(source.expand(frames, -1, -1, -1), grid, mode="bicubic",
                                            align_corners=False).clamp(0, 1)
    generator = torch.Generator().manual_seed(0)
    return torch.stack([jpeg_noise(frame, generator) for frame in clean]), relative_motion(theta)


def real_clip(path: Path, frames: int, height: int) -> torch.Tensor:
    """The first `frames` frames of a video file [T, 3, H, W] in [0, 1], scaled to `height` (even width)."""
    container = require_av().open(str(path))
    try:
        decoded = []
        for frame in container.decode(video=0):
            image = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255
            width = round(height * image.shape[2] / image.shape[1] / 2) * 2
            decoded.append(TF.resize(image, [height, width], antialias=True).clamp(0, 1))
            if len(decoded) == frames:
                break
    finally:
        container.close()
    if len(decoded) < 2:
        raise SystemExit(f"bench_video.py: error: {path}: {len(decoded)} frame(s); a clip needs at least 2")
    return torch.stack(decoded)


def warping_error(outputs: torch.Tensor, motion: torch.Tensor) -> float:
    """Lai et al.: mean over frames of the squared difference to the previous output moved by the true
    motion, over non-occluded pixels (those the previous frame saw), times 1000."""
    moved, inside = warp(outputs[:-1], motion)
    errors = ((outputs[1:] - moved).pow(2) * inside).sum(dim=(1, 2, 3)) / (3 * inside.sum(dim=(1, 2, 3)))
    return 1000 * errors.mean().item()


def quality(yardstick: Yardstick, style_index: int, frames: torch.Tensor, outputs: torch.Tensor) -> dict:
    """The yardstick's style gain and content error, averaged over every 10th frame, on the yardstick's device."""
    picked, device = slice(0, None, 10), yardstick.gram_relu1_2.device
    photo_style, photo_features = yardstick.errors(frames[picked].to(device))
    style, features = yardstick.errors(outputs[picked].to(device).clamp(0, 1))
    gain = 1 - style[:, style_index] / photo_style[:, style_index]
    return {"style_gain": gain.mean().item(), "content": relative_error(features, photo_features).mean().item()}


def paint_modes(network, row: torch.Tensor, frames: torch.Tensor, batch: int, stroke_scale: float,
                device: torch.device) -> dict[str, tuple]:
    """{mode: (outputs [T, 3, H, W] on the CPU, frames per second)}. The network (already on `device`, in
    PRECISIONS[device.type]) runs once per norm setting, through stylize.py's own video painter; the flow modes blend
    those outputs on the CPU as the painter would, and their time is the network's plus the blend's."""
    results = {}
    for mode in ("off", "norms"):
        def fresh_painter(mode=mode):
            return painter(network, row.to(device), device, DTYPES[PRECISIONS[device.type]],
                           Painting(tile=0, stroke_scale=stroke_scale), temporal_parts(mode, network, False))

        if device.type == "cuda":  # the first call on a GPU loads its kernels: a cost per process, not per frame
            fresh_painter()(frames[:batch])
        paint = fresh_painter()
        started = time.perf_counter()
        results[mode] = (torch.cat([paint(frames[i:i + batch]) for i in range(0, len(frames), batch)]),
                         time.perf_counter() - started)
    for base, mode in (("off", "flow"), ("norms", "on")):
        blend, cuts, painted = FlowBlend(), SceneCuts(), results[base][0]
        started = time.perf_counter()
        outputs = torch.cat([blend(frames[i:i + batch], painted[i:i + batch], cuts(frames[i:i + batch]))
                             for i in range(0, len(frames), batch)])
        results[mode] = (outputs, results[base][1] + time.perf_counter() - started)
    return {mode: (outputs, len(frames) / seconds) for mode, (outputs, seconds) in results.items()}


def paint_exported(exported, row: torch.Tensor, frames: torch.Tensor, batch: int, stroke_scale: float = 1.0):
    """(outputs, frames per second) of stylize.py's default CPU path for a clip: the cached export on OpenVINO,
    through the same painter, with the flow blend (it has no norm layers to smooth)."""
    paint = painter(exported, row, torch.device("cpu"), torch.float32, Painting(tile=0, stroke_scale=stroke_scale),
                    temporal_parts("on", exported, True))
    started = time.perf_counter()
    outputs = torch.cat([paint(frames[i:i + batch]) for i in range(0, len(frames), batch)])
    return outputs, len(frames) / (time.perf_counter() - started)


def clip_rows(name: str, frames: torch.Tensor, painted: dict[str, tuple], motion: torch.Tensor | None, flows,
              quality_of) -> list[dict]:
    """One row per mode of a clip: its warping errors (true motion, when known, and estimated flow), each against
    the per-frame mode's, frames per second and quality_of(outputs). Each row also carries the input frames' own
    error from the same flow: the change between frames that the flow does not explain (non-rigid motion,
    motion blur, low frame rates), which the output of a faithful painter shows as well; on a real clip it tells
    that part from flicker."""
    input_error = flow_warping_error(frames, flows)
    rows = []
    for mode, (outputs, fps) in painted.items():
        row = {"clip": name, "mode": mode, "fps": fps, "flow_warping_error": flow_warping_error(outputs, flows),
               "input_flow_warping_error": input_error,
               "warping_error": warping_error(outputs, motion) if motion is not None else None}
        rows.append(row | quality_of(outputs))
        exact = "-" if motion is None else f"{row['warping_error']:.3f}"
        print(f"{name} {mode}: warping error {exact}, from DIS flow {row['flow_warping_error']:.3f}", file=sys.stderr)
    for row in rows:
        if motion is not None:
            row["relative_warping_error"] = row["warping_error"] / rows[0]["warping_error"]
        row["relative_flow_warping_error"] = row["flow_warping_error"] / rows[0]["flow_warping_error"]
    return rows


def strip(path: Path, frames: torch.Tensor, by_mode: dict[str, torch.Tensor], count: int = 4) -> None:
    """Consecutive frames side by side: the input, per-frame (off) and the default (on)."""
    first = len(frames) // 2
    rows = [frames[first:first + count], by_mode["off"][first:first + count], by_mode["on"][first:first + count]]
    save_image(torch.cat(rows), path, nrow=count, padding=4, pad_value=1.0)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a trained checkpoint (its paintings must be in --styles)")
    parser.add_argument("--style", required=True, help="the style painted")
    parser.add_argument("--styles", default=str(ROOT / "demo" / "styles"), help="the paintings of the yardstick")
    parser.add_argument("--photos", nargs="+", default=[str(ROOT / "demo" / "content" / "chelsea.jpg"),
                                                        str(ROOT / "demo" / "content" / "coffee.jpg")],
                        help="photos under the pan and the zoom")
    parser.add_argument("--clips", nargs="+", default=[], help="real clips too (any video file PyAV reads): their "
                        "first --frames frames at --height, measured by their estimated flow alone")
    parser.add_argument("--height", type=int, default=360, help="frame height (16:9 frames)")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--batch", type=int, default=4, help="frames painted together")
    parser.add_argument("--stroke-scale", type=float, default=1.0, help="stylize.py's --stroke-scale")
    parser.add_argument("--vgg-weights", default="imagenet",
                        help="the yardstick's VGG16 (a file, imagenet, or random: speed alone)")
    parser.add_argument("--device", choices=tuple(PRECISIONS), default="cpu",
                        help="where the network and the yardstick run: cpu (fp32, the default) or cuda (the network "
                        "in bf16, after one warm-up batch per mode; adds its peak memory); the flow blend runs on "
                        "the CPU either way (OpenCV)")
    parser.add_argument("--strip", help="write consecutive frames of the pan (input, off, on) to this image")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--default-path", action="store_true", help="also stylize.py's default for a .ckpt on the "
                        "CPU: its cached ONNX export on OpenVINO (OpenVINO's precision), with the flow blend")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.device == "cuda" and args.default_path:
        parser.error("--default-path is stylize.py's CPU path (OpenVINO); use it with --device cpu")
    return args


def default_path_network(ckpt: str, network, style_names: list[str], description: dict) -> ExportedNetwork:
    """stylize.py's default network for a checkpoint on the CPU, or exit with one line where it cannot run: the
    row measures the export itself, so PyTorch may not stand in for it."""
    if not can_accelerate():
        raise SystemExit(f"bench_video.py: error: --default-path needs onnx, onnxscript and OpenVINO installed and "
                         f"the export cache on ({CACHE_VARIABLE} is not off)")
    try:
        path = export_into_cache(ckpt, network, style_names, description)
    except ExportFailed as error:
        raise SystemExit(f"bench_video.py: error: --default-path: {error}") from None
    return ExportedNetwork(OpenVinoNetwork(path), network)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    network, style_names, description = load_checkpoint(args.ckpt)
    network.eval()
    exported = default_path_network(args.ckpt, network, style_names, description) if args.default_path else None
    (choice,) = parse_styles(args.style, style_names)
    painting_names, paintings = load_styles(args.styles, PAINTING_SIZE)
    yardstick = Yardstick(paintings, args.vgg_weights).to(device)
    # On a GPU the yardstick runs there too (its VGG16 takes seconds per 1080p frame on a CPU), but the peak memory
    # is the painting's alone (network, frames, activations), as bench_stylize.py's.
    yardstick_bytes = sum(t.numel() * t.element_size() for t in [*yardstick.parameters(), *yardstick.buffers()])
    network.to(device, DTYPES[PRECISIONS[args.device]])
    style_index = painting_names.index(style_names[int(choice.weights.argmax())])
    results = []
    clips = [(kind, Path(photo)) for kind, photo in zip(("pan", "zoom"), args.photos, strict=False)]
    for kind, path in clips + [("clip", Path(clip)) for clip in args.clips]:
        if kind == "clip":
            frames, motion = real_clip(path, args.frames, args.height), None
        else:
            frames, motion = synthetic_clip(path, kind, args.frames, args.height)
        flows = trusted_backward_flows(frames)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        painted = paint_modes(network, choice.weights, frames, args.batch, args.stroke_scale, device)
        peak_mb = ((torch.cuda.max_memory_allocated(device) - yardstick_bytes) / 2**20 if device.type == "cuda"
                   else None)
        if exported:
            painted[DEFAULT_PATH] = paint_exported(exported, choice.weights, frames, args.batch, args.stroke_scale)
        by_mode = {mode: outputs for mode, (outputs, _) in painted.items()}
        name = f"{kind} {path.stem} {frames.shape[-1]}x{frames.shape[-2]}"
        results += clip_rows(name, frames, painted, motion, flows, partial(quality, yardstick, style_index, frames))
        for row in results[-len(painted):]:
            row["peak_memory_mb"] = peak_mb
        if kind == "pan" and args.strip:
            strip(Path(args.strip), frames, by_mode)
    print(format_table(results, COLUMNS + [PEAK_COLUMN] if device.type == "cuda" else COLUMNS))
    if args.json:
        # "precision": the PyTorch network's (the --default-path row runs in OpenVINO's)
        write_json(args.json, {"benchmark": "video", "machine": machine(), "args": vars(args),
                               "precision": PRECISIONS[args.device], "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
