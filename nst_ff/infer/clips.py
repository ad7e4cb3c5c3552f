"""A stylize run over clips: `stylize.py --input clip.mp4 --output out.mp4 --style NAME` (or a folder of clips
to a folder). Every clip and output is checked before the first frame is painted."""

import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

from nst_ff.errors import UsageError
from nst_ff.infer.stroke import check_stroke_scale
from nst_ff.infer.styles import StyleChoice
from nst_ff.infer.stylizer import NonFiniteOutputError, Painting, blend, preserve_color, stylize
from nst_ff.infer.temporal import Temporal
from nst_ff.infer.video import CONTAINERS, Clip, audio_encoder, is_video, output_format, probe, transcode
from nst_ff.io.images import STDIO, list_images
from nst_ff.io.paths import check_distinct, check_output, outside_output

# Frames painted together: as many as fit in about this many pixels (the network needs ~1 kB per pixel),
# at least one; a 1080p clip goes one frame at a time, 360p eight at a time.
BATCH_PIXELS = 2_000_000
MAX_BATCH_FRAMES = 8
MAX_BATCH_SIZE = 256  # --batch-size of photos and clips: a batch is held in memory at once
TEMPORAL_MODES = ("on", "off", "norms", "flow")
MAX_CRF = 63  # the largest constant-quality value of libx264 in 10 bits and of libvpx-vp9


def list_clips(folder: Path) -> list[Path]:
    """Clips under `folder`, sorted; hidden files and folders are left out (a clip being written is one)."""
    return sorted(path for path in folder.rglob("*") if not any(part.startswith(".") for part in
                  path.relative_to(folder).parts) and path.is_file() and is_video(path))


def is_video_input(text: str) -> bool:
    """A clip, or a folder that holds clips and no photos. A folder of both is one of photos; one line on stderr
    names the clips it leaves out, so that none is skipped unnoticed."""
    path = Path(text)
    if not path.is_dir():
        return is_video(path)
    clips, photos = list_clips(path), list_images(path)
    if clips and photos:
        print(f"skipping {len(clips)} clip(s) in {path}, a folder of photos: stylize them with --input {clips[0]} "
              "or a folder of clips", file=sys.stderr)
    return bool(clips) and not photos


def plan_clips(source: str, output: str, choices: list[StyleChoice], codec: str | None, overwrite: bool,
               checkpoint: str) -> list[tuple[Path, list[Path]]]:
    """(clip, one destination per style choice) for every input clip (those under the output folder left out);
    refuses existing, impossible or shared outputs, and an output that is an input (a clip, the checkpoint, the
    input folder) even with --overwrite."""
    path = Path(source)
    sources = list_clips(path) if path.is_dir() else [path]
    if path.is_dir():
        sources = outside_output(sources, path, output, "clips")
        if not sources:
            raise UsageError(f"no clips in folder {path} outside --output {output}")
    one_file = bool(Path(output).suffix) and not Path(output).is_dir()  # out.mp4, or out.gif to refuse
    if one_file:
        if len(sources) * len(choices) != 1:
            raise UsageError(f"--output {output} takes one clip but this run writes {len(sources) * len(choices)}; "
                             "give a folder instead")
        plan = [(sources[0], [Path(output)])]
    else:
        def suffix(clip: Path) -> str:  # the clip's own container where it can be written, else MP4
            return clip.suffix.lower() if clip.suffix.lower() in CONTAINERS else ".mp4"

        # Clips in subfolders keep them: out/holidays/beach_candy.mp4. As for photos, clips that share a name keep
        # their extensions apart (a.mp4 and a.avi, both written as MP4): a_mp4_candy.mp4, a_avi_candy.mp4.
        relative = [clip.relative_to(path) if path.is_dir() else Path(clip.name) for clip in sources]
        stems = [name.with_suffix("").as_posix() for name in relative]
        counts = Counter(stems)
        names = [stem if counts[stem] == 1 else name.as_posix().replace(".", "_")
                 for stem, name in zip(stems, relative, strict=True)]
        plan = [(clip, [Path(output) / f"{name}_{choice.slug}{suffix(clip)}" for choice in choices])
                for clip, name in zip(sources, names, strict=True)]
    check_distinct(destination for _, destinations in plan for destination in destinations)
    for clip, destinations in plan:
        for destination in destinations:
            output_format(destination, codec)
            check_output(destination, overwrite, [clip, checkpoint], "--output")
    return plan


def painter(network, row: torch.Tensor, device: torch.device, dtype: torch.dtype, painting: Painting,
            temporal: Temporal | None) -> Callable:
    """paint(frames [B, 3, H, W] on the CPU, the clip's next ones) -> stylized frames in the style row [N], on
    the CPU; `temporal` (None: each frame alone) keeps its state from batch to batch."""
    @torch.inference_mode()
    def paint(frames: torch.Tensor) -> torch.Tensor:
        originals = frames.to(device)
        starts = temporal.cuts(frames) if temporal else []
        with temporal.norms.smoothing(starts) if temporal and temporal.norms else nullcontext():
            painted = stylize(network, originals.to(dtype), row[None], painting.tile,
                              painting.stroke_scale)[:, 0].float()  # [B, 3, H, W]
        if not torch.isfinite(painted).all():
            raise NonFiniteOutputError("the network's output is not finite (NaN or infinity): its weights are "
                                       "broken; retrain or use an earlier checkpoint")
        if painting.keep_color:
            painted = preserve_color(painted, originals)
        painted = blend(painted, originals, painting.strength).cpu()
        return temporal.flow(frames, painted, starts) if temporal and temporal.flow else painted
    return paint


def temporal_mode(args) -> str:
    """--temporal as given, else on."""
    return args.temporal or "on"


def temporal_parts(mode: str, network, whole_network_only: bool) -> Temporal | None:
    """--temporal on: running norm statistics where the network allows (a PyTorch network, untiled), and the
    flow blend; norms or flow: that part alone; off: None."""
    if mode == "off":
        return None
    norms = mode == "norms" or (mode == "on" and not whole_network_only)
    return Temporal(network if norms else None, flow=mode in ("on", "flow"))


def check_video_args(args, onnx: bool) -> None:
    refused = {"--activations": args.activations, "--sheet": args.sheet, "--export": args.export,
               "--size": args.size, "--max-size": args.max_size, "--json": args.json,
               "--output -": args.output == STDIO, "--format": args.format}
    for option, given in refused.items():
        if given:
            raise UsageError(f"{option} applies to photos, not clips")
    check_stroke_scale(args.stroke_scale)
    if args.crf is not None and not 0 <= args.crf <= MAX_CRF:
        raise UsageError(f"--crf {args.crf}: must be between 0 and {MAX_CRF}")
    if not 0 <= args.strength <= 1:
        raise UsageError(f"--strength {args.strength}: must be between 0 and 1")
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size {args.batch_size}: must be between 1 and {MAX_BATCH_SIZE}")
    if temporal_mode(args) == "norms" and args.tile:
        raise UsageError("--tile normalises whole frames tile by tile and cannot keep running statistics; "
                         "use --temporal flow or on")
    if temporal_mode(args) == "norms" and onnx:
        raise UsageError("--temporal norms needs the PyTorch network's norm layers, and this is an ONNX model; "
                         "use --temporal flow or on, or the .ckpt it was exported from")


def stylize_clips(args, network, choices: list[StyleChoice], device: torch.device, dtype: torch.dtype,
                  onnx: bool = False) -> int:
    """The whole video run: checks everything, then paints each clip in each style."""
    check_video_args(args, onnx)
    if not choices:
        raise UsageError("choose --style, --style-mix, --all-styles or --interpolate")
    plan = plan_clips(args.input, args.output or "stylized", choices, args.codec, args.overwrite, args.ckpt)
    clips = [probe(source) for source, _ in plan]  # every clip readable before the first is painted
    for clip, (_, destinations) in zip(clips, plan, strict=True):  # and its sound writable in every output
        for destination in destinations:
            audio_encoder(clip, destination)
    network = network.to(device, dtype)
    painting = Painting(args.strength, args.preserve_color, 0 if onnx else args.tile, args.stroke_scale)
    for clip, (_, destinations) in zip(clips, plan, strict=True):
        for choice, destination in zip(choices, destinations, strict=True):
            # A cached export (nst_ff.infer.export_cache) has no norm layers to smooth: its frames get the flow.
            whole_network_only = onnx or bool(args.tile) or hasattr(network, "torch_network")
            paint = painter(network, choice.weights.to(device), device, dtype, painting,
                            temporal_parts(temporal_mode(args), network, whole_network_only))
            write_clip(clip, destination, paint, args, choice.label)
    return 0


def paint_clip(clip: Clip, destination: Path, paint: Callable, codec: str | None = None, crf: int | None = None,
               batch_size: int = 1, progress: Callable[[int], None] = lambda frames: None) -> int:
    """Writes `destination`: every frame of `clip` through `paint` (a painter), `batch_size` frames at a time (1:
    as many as fit in BATCH_PIXELS); progress(frames) after each batch. Returns the number of frames."""
    _, codec = output_format(destination, codec)
    batch = batch_size if batch_size > 1 else max(1, min(MAX_BATCH_FRAMES, BATCH_PIXELS // (clip.width * clip.height)))
    return transcode(clip, destination, paint, codec, crf, batch, progress)


def write_clip(clip: Clip, destination: Path, paint: Callable, args, label: str) -> None:
    """paint_clip with a progress bar in frames on stderr, then one line on stdout."""
    from tqdm import tqdm  # comes with Lightning

    started = time.perf_counter()
    with tqdm(total=clip.frames, unit="frame", desc=f"{clip.path.name} {label}", file=sys.stderr,
              dynamic_ncols=True, leave=False) as bar:
        frames = paint_clip(clip, destination, paint, args.codec, args.crf, args.batch_size, bar.update)
    seconds = time.perf_counter() - started
    print(f"{clip.path} {clip.width}x{clip.height}: {frames} frames in {seconds:.1f} s "
          f"({frames / seconds:.2f} frames/s) -> {destination}")
