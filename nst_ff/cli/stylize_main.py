"""Stylize photos with a trained network: `python stylize.py --ckpt CKPT --input photo.jpg --style NAME`; clips
(`--input clip.mp4`) go to nst_ff.infer.clips.

Needs only the network and its checkpoint (no Lightning, Hydra or VGG; VGG is loaded for --vgg-activations).
"""

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from nst_ff.cli.arguments import Parser, fail, run_command
from nst_ff.errors import UsageError
from nst_ff.infer.clips import MAX_BATCH_SIZE, TEMPORAL_MODES, is_video_input, stylize_clips, temporal_mode
from nst_ff.infer.export_cache import ExportedNetwork, accelerated
from nst_ff.infer.onnx_model import export_onnx, is_onnx, load_onnx
from nst_ff.infer.openvino_model import OpenVinoNetwork, openvino_installed
from nst_ff.infer.photos import Photo, Photos, as_list, list_inputs, plan_outputs, read_photo, resize_photo
from nst_ff.infer.quantize import MAX_CALIBRATION_PHOTOS, calibration_photos, check_export, export_int8
from nst_ff.infer.quantize import MODES as QUANTIZE_MODES
from nst_ff.infer.stroke import check_stroke_scale
from nst_ff.infer.styles import StyleChoice, all_styles, available_styles, parse_interpolation, parse_mix, parse_styles
from nst_ff.infer.stylizer import SHEET_COLUMNS, Painting, Report, Stylizer
from nst_ff.io.config import loss_config
from nst_ff.io.images import MAX_PIXELS, STDIO
from nst_ff.io.paths import check_output, check_writable
from nst_ff.model.checkpoint import export, load_checkpoint, training_record

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# nst_ff.infer.activations.CHANNEL_CRITERIA, repeated so that parsing arguments need not import TensorBoard.
CHANNEL_CRITERIA = ("first_16", "last_16", "first_32", "last_32", "every_8th", "every_16th")
CHANNELS, CMAP, INTERPOLATION_STEPS = "first_16", "nipy_spectral", 5
# (option, argument, least, most), checked before any work. Sizes: a shorter side of MAX_SIDE already makes
# Pillow's decompression-bomb limit of pixels (MAX_PIXELS, checked again per photo after resizing).
MAX_SIDE = math.isqrt(MAX_PIXELS)
LIMITS = (("--size", "size", 1, MAX_SIDE), ("--max-size", "max_size", 1, 10**6),
          ("--batch-size", "batch_size", 1, MAX_BATCH_SIZE), ("--workers", "workers", 0, 64),
          ("--tile", "tile", 0, 8192))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="stylize.py", description="Paint photos in the styles of a trained nst_ff network.")
    parser.add_argument("--ckpt", required=True, help="checkpoint from train.py (last.ckpt) or a file from --export "
                        "(.onnx: runs on OpenVINO or ONNX Runtime, see --backend)")
    parser.add_argument("--list-styles", action="store_true", help="print index and name of every style, then exit")
    parser.add_argument("--list-layers", action="store_true", help="print the layers --layers accepts, then exit")
    parser.add_argument("--export", metavar="PATH", help="write a small inference file (weights, arguments, styles); "
                        "PATH.onnx writes an ONNX model instead")
    parser.add_argument("--quantize", choices=QUANTIZE_MODES, help="with --export PATH.onnx: an int8 model for "
                        "CPUs without bf16: 1.35-1.43x the fp32 export's speed on OpenVINO, 1.2-1.25x on ONNX "
                        "Runtime; OpenVINO's bf16 (CPUs with AMX or AVX512-BF16) runs the fp32 export faster still")
    parser.add_argument("--calibration", metavar="FOLDER", help="with --quantize: photos to set the int8 ranges on "
                        f"(the first {MAX_CALIBRATION_PHOTOS}; default: the demo photos of a source checkout)")
    for add_group in (add_image_options, add_style_options, add_speed_options, add_video_options, add_dump_options):
        add_group(parser)
    return parser


def add_image_options(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("images")
    io.add_argument("--input", help="an image, a folder of images (searched recursively) or - for stdin")
    io.add_argument("--output", help="an image file (.png/.jpg), a folder, or - for PNG on stdout "
                    "(default: folder 'stylized')")
    io.add_argument("--format", choices=("png", "jpg"), help="file type of images written to a folder (default png)")
    io.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    io.add_argument("--size", type=int, help="resize photos so their shorter side is SIZE first")
    io.add_argument("--max-size", type=int, help="then shrink photos whose longer side is over MAX_SIZE")
    io.add_argument("--strength", type=float, default=1.0, help="0 = the photo, 1 = fully stylized (default 1)")
    io.add_argument("--stroke-scale", type=float, default=1.0, metavar="S",
                    help="brush strokes S times the size the network learned (default 1; 2-4 for large photos, clips)")
    io.add_argument("--preserve-color", action="store_true", help="keep the photo's colours (luminance-only transfer)")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    styles = parser.add_argument_group("styles (one of)")
    styles.add_argument("--style", action="append", help="names or indices, e.g. starry_night,3: one output each")
    styles.add_argument("--style-mix", action="append", metavar="MIX",
                        help="a blend such as starry_night:0.7,the_scream:0.3 (a,b = equal); repeat for more")
    styles.add_argument("--all-styles", action="store_true", help="every style, plus a labelled sheet")
    styles.add_argument("--interpolate", metavar="A,B", help="--steps images going from style A to style B, "
                        "plus a strip")
    styles.add_argument("--steps", type=int, help=f"images in an --interpolate (default {INTERPOLATION_STEPS})")
    styles.add_argument("--sheet", action="store_true", help="also write a labelled sheet: the photo and each output")


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    speed = parser.add_argument_group("speed")
    speed.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    speed.add_argument("--precision", choices=tuple(PRECISIONS),
                       help="fp32 (default), bf16, or fp16 (GPU only); an .onnx model on OpenVINO: OpenVINO's "
                       "choice unless given (bf16 on CPUs with AMX or AVX512-BF16, else fp32)")
    speed.add_argument("--backend", choices=("auto", "torch", "openvino", "onnxruntime"), default="auto",
                       help="auto (default): on the CPU, OpenVINO when installed (an .onnx model as it is; a .ckpt "
                       "or .pt from its ONNX export, made once and cached), else PyTorch for a .ckpt/.pt and ONNX "
                       "Runtime for an .onnx; torch: the PyTorch network; openvino or onnxruntime: an .onnx model "
                       "on that runtime")
    speed.add_argument("--batch-size", type=int, default=1, help="photos of equal size stylized together")
    speed.add_argument("--workers", type=int, default=2, help="processes reading a folder's photos ahead")
    speed.add_argument("--compile", action="store_true",
                       help="torch.compile the network: the first image of each size takes tens of seconds, "
                       "the rest run about 1.5x faster on CPU")
    speed.add_argument("--tile", type=int, metavar="PX",
                       help="stylize in tiles of PX pixels: any size in bounded memory, the same image (default: "
                       "tiles of 1024 above 4 megapixels; 0 = never)")
    speed.add_argument("--json", action="store_true", help="print one JSON record per photo instead of a line")


def add_video_options(parser: argparse.ArgumentParser) -> None:
    video = parser.add_argument_group("video (--input clip.mp4 or a folder of clips)")
    video.add_argument("--temporal", choices=TEMPORAL_MODES,
                       help="on (default): no flicker: each frame is blended with the last one moved along the "
                       "optical flow, and norm statistics glide across frames where the PyTorch network paints "
                       "them (--backend torch, untiled); norms or flow: one part alone; off: each frame alone")
    video.add_argument("--codec", help="video encoder (default libx264, H.264; libvpx-vp9 for .webm)")
    video.add_argument("--crf", type=int, help="constant quality: lower is better and larger (libx264 default 23)")


def add_dump_options(parser: argparse.ArgumentParser) -> None:
    dump = parser.add_argument_group("activation dumps (TensorBoard)")
    dump.add_argument("--activations", metavar="LOGDIR", help="write every layer's activation maps to a run here")
    dump.add_argument("--layers", help="comma-separated layer names (default: all; see --list-layers)")
    dump.add_argument("--channels", choices=CHANNEL_CRITERIA, help=f"channels shown per layer (default {CHANNELS})")
    dump.add_argument("--cmap", help=f"any matplotlib colour map (default {CMAP})")
    dump.add_argument("--vgg-activations", action="store_true", help="add the VGG loss network's maps of the output")
    dump.add_argument("--vgg-layers", help="VGG layers (default: the style layers of conf/loss/perceptual.yaml)")
    dump.add_argument("--vgg-arch", choices=("vgg16", "vgg19"), help="default: conf/loss/perceptual.yaml's")
    dump.add_argument("--vgg-weights",
                      help="imagenet, a state-dict file or random (default: $NST_FF_VGG_WEIGHTS or imagenet)")


def choose_styles(args, style_names: list[str]):
    """(style choices, sheet file suffix or None, sheet columns)."""
    picked = [bool(args.style or args.style_mix), args.all_styles, bool(args.interpolate)]
    if sum(picked) > 1:
        raise UsageError("use --style/--style-mix, --all-styles or --interpolate, not several")
    if args.all_styles:
        return all_styles(style_names), "all-styles", SHEET_COLUMNS
    if args.interpolate:
        steps = INTERPOLATION_STEPS if args.steps is None else args.steps
        choices, path = parse_interpolation(args.interpolate, steps, style_names)
        return choices, f"{path}_strip", len(choices) + 1  # the strip is one row
    choices = parse_styles(",".join(args.style), style_names) if args.style else []
    choices += [parse_mix(text, style_names) for text in args.style_mix or []]
    return choices, ("sheet" if args.sheet else None), SHEET_COLUMNS


def pick_device(name: str, precision: str | None, network=None) -> torch.device:
    # An ONNX model runs on CUDA when both torch (which holds the images) and ONNX Runtime can.
    onnx_cuda = getattr(network, "cuda_available", True)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() and onnx_cuda else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available; use --device cpu")
    if name == "cuda" and not onnx_cuda:
        raise UsageError("--device cuda: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu); "
                         "use --device cpu")
    if precision == "fp16" and name == "cpu":
        raise UsageError("--precision fp16 needs a GPU (--device cuda); on CPU use fp32 or bf16")
    return torch.device(name)


def print_layers(network, args) -> None:
    from nst_ff.infer.activations import transformer_layers

    for name, layer in transformer_layers(network).items():
        print(f"{name}\t{layer.conv.out_channels} channels")
    if args.vgg_activations:
        from nst_ff.loss.vgg import layer_channels

        for name, channels in layer_channels(args.vgg_arch or loss_config()["vgg"]["arch"]).items():
            print(f"vgg/{name}\t{channels} channels")


def activation_dump(args, network):
    """Validated before anything is written; imported here so that plain stylizing starts faster."""
    from nst_ff.infer.activations import ActivationDump, transformer_layers

    layers = transformer_layers(network)
    if args.layers:
        wanted = [name.strip() for name in args.layers.split(",")]
        unknown = [name for name in wanted if name not in layers]
        if unknown:
            raise UsageError(f"unknown layer(s) {', '.join(unknown)}; available: {', '.join(layers)}")
        layers = {name: layers[name] for name in wanted}
    vgg = None
    if args.vgg_activations:
        from nst_ff.loss.vgg import VGGFeatures

        config = loss_config(vgg_weights=args.vgg_weights)  # the training loss's VGG unless told otherwise
        vgg_layers = args.vgg_layers.split(",") if args.vgg_layers else list(config["style_layers"])
        vgg = VGGFeatures(vgg_layers, args.vgg_arch or config["vgg"]["arch"], config["vgg"]["weights"])
    return ActivationDump(args.activations, layers, args.channels or CHANNELS, args.cmap or CMAP, vgg)


@dataclass
class Plan:
    """Everything a stylize run will do, validated; building it writes nothing."""

    choices: list[StyleChoice]
    sheet_columns: int
    device: torch.device
    photos: list[Photo]  # with their destinations
    batches: object  # lists of (photo index, image or None, error or None)
    dump: object  # an ActivationDump (it writes on its first photo), or None


def make_plan(args, network, style_names: list[str]) -> Plan | None:
    """The validated plan of a stylizing run; None when there is nothing to stylize (an export alone)."""
    choices, sheet_suffix, sheet_columns = choose_styles(args, style_names)
    if args.export:
        check_output(args.export, args.overwrite, [args.ckpt, args.input not in (None, STDIO) and args.input],
                     "--export")
    if args.input is None:
        if choices or args.activations:
            raise UsageError("--input is required to stylize")
        if not args.export:
            raise UsageError("nothing to do: give --input and --style (or --style-mix, --all-styles, --interpolate), "
                             "--export, --list-styles or --list-layers")
        return None
    if not choices:
        raise UsageError(f"choose --style, --style-mix, --all-styles or --interpolate; {available_styles(style_names)}")
    check_numbers(args)
    device = pick_device(args.device, args.precision, network)
    photos = list_inputs(args.input, args.output or "stylized")
    plan_outputs(photos, choices, args.output or "stylized", args.format, sheet_suffix, args.overwrite,
                 [Path(args.ckpt)])
    if args.activations:
        check_writable(args.activations)
    dump = activation_dump(args, network) if args.activations else None
    if len(photos) == 1:  # read now: an unreadable photo stops the run before any file appears
        image = resize_photo(read_photo(photos[0].source), args.size, args.max_size, photos[0].shown)
        batches = [[(0, image, None)]]
    else:  # read ahead in worker processes while the network computes
        workers = min(args.workers, len(photos))
        dataset = Photos([photo.source for photo in photos], args.size, args.max_size)
        batches = DataLoader(dataset, batch_size=args.batch_size, num_workers=workers, collate_fn=as_list)
    return Plan(choices, sheet_columns, device, photos, batches, dump)


def check_companions(args, clips: bool) -> None:
    """Refuses an option that only means something beside another one when that one is missing (or an option of
    clips given for photos): it would be ignored without a word."""
    needs = (("--steps", args.steps, args.interpolate, "--interpolate A,B"),
             ("--layers", args.layers, args.activations, "--activations LOGDIR"),
             ("--channels", args.channels, args.activations, "--activations LOGDIR"),
             ("--cmap", args.cmap, args.activations, "--activations LOGDIR"),
             ("--vgg-activations", args.vgg_activations, args.activations, "--activations LOGDIR"),
             ("--vgg-layers", args.vgg_layers, args.vgg_activations, "--vgg-activations"),
             ("--vgg-arch", args.vgg_arch, args.vgg_activations, "--vgg-activations"),
             ("--vgg-weights", args.vgg_weights, args.vgg_activations, "--vgg-activations"))
    for option, value, companion, companion_usage in needs:
        if value not in (None, False) and not companion:
            raise UsageError(f"{option} is used with {companion_usage}; add that or leave {option} out")
    if clips:
        return
    for option, value in (("--temporal", args.temporal), ("--codec", args.codec), ("--crf", args.crf)):
        if value is not None:
            raise UsageError(f"{option} applies to clips, not photos")


def check_numbers(args) -> None:
    if args.tile and args.activations:
        raise UsageError("--activations records whole layers and cannot run in --tile mode; leave out --tile")
    if args.activations and args.stroke_scale != 1:
        raise UsageError("--activations records one pass of the network and --stroke-scale makes two; leave one out")
    check_stroke_scale(args.stroke_scale)
    if args.tile and args.tile < 16:
        raise UsageError(f"--tile {args.tile}: tiles must be at least 16 pixels (or 0 for none)")
    if not 0 <= args.strength <= 1:  # also refuses NaN
        raise UsageError(f"--strength {args.strength}: must be between 0 and 1")
    for option, attribute, least, most in LIMITS:
        value = getattr(args, attribute)
        if value is not None and value < least:
            raise UsageError(f"{option} {value}: must be at least {least}")
        if value is not None and value > most:
            raise UsageError(f"{option} {value}: must be at most {most}")


def execute(plan: Plan, args, network, style_names: list[str]) -> int:
    if plan.dump and plan.dump.vgg is not None:
        plan.dump.vgg.to(plan.device)
    # An .onnx model cannot tile (tiles share the whole image's norm statistics, which needs the network's
    # layers); a cached export tiles with the PyTorch network it keeps.
    painting = Painting(args.strength, args.preserve_color, 0 if is_onnx(args.ckpt) else args.tile,
                        args.stroke_scale)
    report = Report(plan.sheet_columns, plan.dump, args.json,
                    log=sys.stderr if args.output == STDIO else sys.stdout)  # stdout may carry the PNG
    stylizer = Stylizer(network, style_names, plan.choices, plan.device, network_dtype(args, network), painting,
                        report, compile=args.compile)
    try:
        done, errors = stylizer.run(plan.photos, plan.batches)
    finally:
        if plan.dump:
            plan.dump.close()
    if errors:
        return fail("stylize.py", f"{len(errors)} of {len(errors) + done} photos could not be read")
    return 0


def network_dtype(args, network) -> torch.dtype:
    """The precision of the tensors the network takes: an ONNX model or a cached export takes float32
    (OpenVINO may compute in bf16 inside)."""
    exported = is_onnx(args.ckpt) or isinstance(network, ExportedNetwork)
    return torch.float32 if exported else PRECISIONS[args.precision or "fp32"]


def accelerate(args, device: torch.device, network, style_names: list[str], description: dict):
    """--backend auto on the CPU: a .ckpt/.pt runs on OpenVINO from its cached ONNX export (nst_ff.infer.
    export_cache), unless the run needs the PyTorch network itself: its layers (--activations, --tile, --compile,
    --temporal norms) or a precision OpenVINO has not (fp16)."""
    needs_torch = (args.compile or args.tile or args.activations or args.precision == "fp16"
                   or temporal_mode(args) == "norms")
    if is_onnx(args.ckpt) or args.backend != "auto" or device.type != "cpu" or needs_torch:
        return network
    network, reason = accelerated(args.ckpt, network, style_names, description, args.precision)
    if reason:
        print(reason, file=sys.stderr)
    return network


def choose_backend(args) -> str:
    """auto: OpenVINO when installed and the run is on the CPU (several times ONNX Runtime's speed there,
    BENCHMARKS.md), else ONNX Runtime (which also runs on CUDA)."""
    on_cpu = args.device == "cpu" or (args.device == "auto" and not torch.cuda.is_available())
    if args.backend == "torch":
        raise UsageError(f"--backend torch runs a .ckpt or .pt file, and {args.ckpt} is an ONNX model; "
                         "use --backend auto, openvino or onnxruntime")
    if args.backend == "openvino" and not on_cpu:
        raise UsageError("--backend openvino runs on the CPU; use --device cpu, or --backend onnxruntime on CUDA")
    if args.backend == "auto":
        return "openvino" if on_cpu and openvino_installed() else "onnxruntime"
    return args.backend


def load_exported(args) -> tuple:
    """An .onnx model on the backend chosen: (network stand-in, style names, description)."""
    backend = choose_backend(args)
    refuse_torch_only(args, backend)
    if backend == "openvino":
        network = OpenVinoNetwork(args.ckpt, args.precision)
        return network, network.style_names, network.description
    return load_onnx(args.ckpt)


def refuse_torch_only(args, backend: str) -> None:
    """An ONNX model is a graph for a runtime: what needs the PyTorch network's layers is refused, and so is a
    precision other than fp32 on ONNX Runtime."""
    needs_torch = {"--activations": args.activations, "--list-layers": args.list_layers, "--compile": args.compile,
                   "--tile": args.tile, "--export": args.export,
                   f"--precision {args.precision}": backend == "onnxruntime" and args.precision not in (None, "fp32")}
    for option, given in needs_torch.items():
        if given:
            raise UsageError(f"{option} needs the PyTorch network, and {args.ckpt} is an ONNX model; "
                             "use the .ckpt or .pt file it was exported from")


def stylize_video(args, network, style_names: list[str], description: dict) -> int:
    device = pick_device(args.device, args.precision, network)
    choices = choose_styles(args, style_names)[0]
    network = accelerate(args, device, network, style_names, description)
    return stylize_clips(args, network, choices, device, network_dtype(args, network), onnx=is_onnx(args.ckpt))


def run(args) -> int:
    if is_onnx(args.ckpt):
        network, style_names, description = load_exported(args)
    elif args.backend not in ("auto", "torch"):
        raise UsageError(f"--backend {args.backend} runs an exported .onnx model, and {args.ckpt} is not one; "
                         "export one with --export m.onnx (--backend auto runs a .ckpt/.pt on OpenVINO by itself)")
    else:
        network, style_names, description = load_checkpoint(args.ckpt)
    if args.list_styles:
        for index, name in enumerate(style_names):
            print(f"{index}\t{name}")
        return 0
    if args.list_layers:
        print_layers(network, args)
        return 0
    check_export(args.quantize, args.export, args.calibration)
    # read before any work, so that a bad folder is refused before the photos are painted
    calibration = calibration_photos(args.calibration) if args.quantize else None
    clips = args.input not in (None, STDIO) and is_video_input(args.input)
    check_companions(args, clips)
    if clips:
        return stylize_video(args, network, style_names, description)
    plan = make_plan(args, network, style_names)
    if args.export:  # before the network moves to another device or precision
        if args.quantize:
            export_int8(args.export, network, style_names, training_record(description), calibration)
        else:
            save = export_onnx if is_onnx(args.export) else export
            save(args.export, network, style_names, training_record(description))
        print(f"exported {args.export}", file=sys.stderr if args.output == STDIO else sys.stdout)
    if plan is None:
        return 0
    return execute(plan, args, accelerate(args, plan.device, network, style_names, description), style_names)


def main(argv: list[str] | None = None) -> int:
    return run_command("stylize.py", build_parser().parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
