"""The nst_ff workbench in the browser: `streamlit run workbench.py` or `nst-workbench`.

Stylize and blend a checkpoint's styles with sliders, stylize a short clip, look inside the network, watch
per-image optimisation. The computations are nst_ff.app.workbench_core's; this page only lays them out. Uploaded
photos are decoded in memory, never written to disk; an uploaded clip lives in a private temporary folder while
it is painted (FFmpeg reads files), removed at the end.
"""

from pathlib import Path

import streamlit as st
import torch

from nst_ff.app import workbench_core as workbench
from nst_ff.errors import NstError, UsageError
from nst_ff.infer.activations import CHANNEL_CRITERIA, transformer_layers
from nst_ff.infer.export_cache import accelerated
from nst_ff.infer.photos import resize_photo
from nst_ff.infer.stroke import MIN_STROKE_SCALE
from nst_ff.infer.stylizer import Painting
from nst_ff.io.config import default_style_size, env_vgg_weights, loss_config
from nst_ff.io.images import IMAGE_EXTENSIONS, MAX_PIXELS, decode_image, read_image, resize_shorter, to_uint8
from nst_ff.loss.vgg import VGGFeatures, layer_channels
from nst_ff.measure.optimization import INITS, OPTIMIZERS
from nst_ff.model.checkpoint import load_checkpoint

DEMO = Path(__file__).resolve().parents[2] / "demo"  # a source checkout's photos and paintings (a wheel has none)
UPLOAD = "upload a file..."
VGG_LAYERS = [name for name in layer_channels("vgg16") if name.startswith("relu")]


@st.cache_resource(max_entries=4)
def network_of(path: str, modified: float):
    """The network, its style names and description, read once per file version (sliders never reload it)."""
    return load_checkpoint(path)


@st.cache_resource(max_entries=4, show_spinner="preparing the network for clips")
def clip_network_of(path: str, modified: float):
    """The network stylize.py paints clips with on the CPU by default (its OpenVINO export where that runs), and
    the one-line reason when its export failed; exported and compiled once per file version."""
    network, names, description = network_of(path, modified)
    return accelerated(path, network, names, description)


@st.cache_resource(max_entries=2)
def vgg_of(layers: tuple[str, ...], weights: str):
    return VGGFeatures(layers, "vgg16", weights).eval()


def choose_image(label: str, folder: Path, key: str):
    """Widgets for a demo image from `folder` or an upload; returns the function that reads it (None until there
    is one), called once every widget of the page is drawn: a widget a failed run never reached would lose its
    value."""
    demos = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    choice = st.selectbox(label, [p.name for p in demos] + [UPLOAD], key=f"{key}_choice")
    if choice != UPLOAD:
        return lambda: read_image(folder / choice)
    upload = st.file_uploader(label, key=f"{key}_upload")  # decoded in memory, never written
    # an upload to a shared page is held to the size it may paint, not the larger one stylize.py reads
    return lambda: decode_image(upload.getvalue(), upload.name, MAX_PIXELS) if upload is not None else None


def choose_checkpoint():
    """Sidebar widgets for the checkpoint; returns the function that names the file version network_of and
    clip_network_of load: (path, modification time)."""
    found = workbench.find_checkpoints()
    choice = st.sidebar.selectbox("checkpoint", found + ["another path..."], key="ckpt_choice")
    path = st.sidebar.text_input("checkpoint path", key="ckpt_path") if choice == "another path..." else choice

    def version():
        if not path:
            raise UsageError("choose a checkpoint: train one (python train.py experiment=demo) or give its path")
        return path, Path(path).stat().st_mtime if Path(path).is_file() else 0.0
    return version


def sidebar():
    """The checkpoint (network, names, description) and the photo, shared by the Stylize and Inside views."""
    checkpoint = choose_checkpoint()
    with st.sidebar:
        photo = choose_image("photo", DEMO / "content", "photo")
        size = st.number_input("output size (shorter side, px)", 16, workbench.MAX_SIDE, 256, key="size")
    network, names, description = network_of(*checkpoint())
    photo = photo()
    if photo is None:
        raise UsageError("choose a photo or upload one")
    return network, names, description, resize_photo(photo, int(size), None)


def style_weights(names: list[str], description: dict) -> torch.Tensor:
    """A gallery of the styles, each with its weight slider; the mix [1, N]."""
    thumbnails = description.get("thumbnails")
    sliders = []
    columns = st.columns(min(len(names), 8))
    for index, name in enumerate(names):
        with columns[index % len(columns)]:
            if thumbnails:
                st.image(thumbnails[index].permute(1, 2, 0).numpy(), width=96)
            sliders.append(st.slider(name, 0.0, 1.0, 1.0 if index == 0 else 0.0, 0.05, key=f"style_{name}"))
    return workbench.style_mix(sliders)


def stylize_view(network, names, description, photo) -> None:
    left, right = st.columns(2)  # the pictures on top, the sliders under them
    weights = style_weights(names, description)
    strength = st.slider("strength", 0.0, 1.0, 1.0, 0.05, key="strength")
    keep_color = st.checkbox("keep the photo's colours", key="keep_color")
    image, seconds = workbench.stylize_photo(network, photo, weights, strength, keep_color)
    st.session_state["result"] = to_uint8(image)  # what the page shows, for tests and the download
    left.image(to_uint8(photo).permute(1, 2, 0).numpy(), caption="photo")
    right.image(st.session_state["result"].permute(1, 2, 0).numpy(),
                caption=f"{photo.shape[-1]}x{photo.shape[-2]} in {seconds * 1000:.0f} ms")
    right.download_button("download PNG", workbench.png_bytes(image), "stylized.png", "image/png")


def video_view(checkpoint) -> None:
    """`checkpoint`: choose_checkpoint's file version, called once the upload widget is drawn (its clip survives a
    missing checkpoint)."""
    upload = st.file_uploader(f"clip ({' '.join(workbench.CLIP_SUFFIXES)}; at most {workbench.MAX_CLIP_FRAMES} "
                              f"frames and {workbench.MAX_CLIP_SIDE} px)", key="clip_upload",
                              type=[suffix[1:] for suffix in workbench.CLIP_SUFFIXES])
    version = checkpoint()
    _, names, description = network_of(*version)
    weights = style_weights(names, description)
    left, right = st.columns(2)
    strength = left.slider("strength", 0.0, 1.0, 1.0, 0.05, key="clip_strength")
    stroke_scale = right.slider("stroke scale (2: strokes twice as large)", MIN_STROKE_SCALE, 4.0, 1.0, 0.25,
                                key="clip_stroke_scale")
    if st.button("stylize the clip", key="stylize_clip"):
        if upload is None:
            raise UsageError("upload a clip first")
        st.session_state.pop("clips", None)  # a failed run shows no earlier clip as if it were this one's
        network, note = clip_network_of(*version)
        bar = st.progress(0.0, text="starting")
        clips = workbench.stylize_clip(network, upload.getvalue(), upload.name, weights,
                                       Painting(strength, stroke_scale=stroke_scale), bar.progress)
        st.session_state["clips"] = {"name": upload.name, "note": note, **clips}
        bar.empty()
    show_clips()


def show_clips() -> None:
    """The last stylized clip, per-frame and stable side by side, each with what painted it and its download."""
    clips = st.session_state.get("clips")
    if not clips:
        return
    if clips["note"]:  # stylize.py's warning when the export failed and the clips were painted in PyTorch
        st.warning(clips["note"])
    stem = Path(clips["name"]).stem
    for column, label in zip(st.columns(2), workbench.CLIP_MODES, strict=True):
        painted = clips[label]
        column.caption(f"{clips['name']}, {label} (--temporal {workbench.CLIP_MODES[label]}): {painted.painted_by}")
        column.video(painted.video, format="video/mp4")
        column.download_button(f"download {label} MP4", painted.video, f"{stem}_{label}.mp4", "video/mp4",
                               key=f"download_{label}")


def inside_view(network, names, description, photo) -> None:
    layers = list(transformer_layers(network))
    chosen = st.multiselect("network layers", layers, default=[layers[0], layers[5]], key="layers")
    vgg_chosen = st.multiselect("VGG layers (of the output)", VGG_LAYERS, key="vgg_layers")
    left, right = st.columns(2)
    channels = left.selectbox("channels", list(CHANNEL_CRITERIA), key="channels")
    colormap = right.text_input("colour map (matplotlib)", "nipy_spectral", key="colormap")
    area = st.container()  # the maps, above the style mix
    weights = style_weights(names, description)
    vgg = vgg_of(tuple(vgg_chosen), env_vgg_weights()) if vgg_chosen else None
    maps = workbench.activation_maps(network, photo, weights, chosen, channels, colormap, vgg)
    columns = area.columns(2)
    for index, (name, grid) in enumerate(maps.items()):
        columns[index % 2].image(grid.permute(1, 2, 0).numpy(), caption=name)


def optimisation_settings() -> dict:
    """The loss and optimiser widgets of the optimisation view: {name: value}."""
    layers = st.columns(5)
    content_layers = layers[0].multiselect("content layers", VGG_LAYERS, default=["relu3_3"], key="content_layers")
    style_layers = {layer: column.number_input(f"{layer} weight", 0.0, 100.0, weight, key=f"w_{layer}")
                    for column, (layer, weight) in zip(layers[1:], loss_config()["style_layers"].items(),
                                                       strict=True)}
    options = st.columns(6)
    return {
        "content_layers": content_layers, "style_layers": style_layers,
        "content_weight": options[0].number_input("content weight", 0.0, 1e4, 1.0, key="content_weight"),
        "style_weight": options[1].number_input("style weight", 0.0, 1e4, 1.0, key="style_weight"),
        "tv_weight": options[2].number_input("TV weight", 0.0, 1e4, 0.0, key="tv_weight"),
        "optimizer": options[3].selectbox("optimiser", OPTIMIZERS, key="optimizer"),
        "init": options[4].selectbox("start from", INITS, key="init"),
        "steps": int(options[5].number_input("steps", 1, 1000, 30, key="steps")),
    }


def live_progress(run: dict, steps: int):
    """The optimiser's on_step: a progress bar, the current image and the loss curve, updated in place."""
    bar, picture, chart = st.progress(0.0), st.empty(), st.empty()

    def on_step(step, image, terms):
        run["losses"].append(terms["total"])
        run["image"] = image[0].clamp(0, 1).cpu()
        if step % max(1, steps // 20) == 0 or step == steps:
            run["frames"].append(run["image"])
        bar.progress(step / steps, text=f"step {step} of {steps}: loss {terms['total']:.4f}")
        picture.image(to_uint8(run["image"]).permute(1, 2, 0).numpy(), caption=f"step {step}", width=384)
        chart.line_chart({"loss": run["losses"]})

    return on_step


def optimize_view() -> None:
    left, right = st.columns(2)
    with left:
        photo = choose_image("photo", DEMO / "content", "opt_photo")
    with right:
        painting = choose_image("painting", DEMO / "styles", "opt_painting")
    size = st.number_input("size (shorter side, px)", 16, workbench.MAX_SIDE, 128, key="opt_size")
    settings = optimisation_settings()
    if not st.button("optimise", key="optimise"):
        show_optimisation()
        return
    photo, painting = photo(), painting()
    if photo is None or painting is None:
        raise UsageError("choose a photo and a painting")
    st.button("stop", key="stop")  # pressing it reruns the page, which ends the optimisation where it is
    loss = workbench.optimization_loss(settings["content_layers"], settings["style_layers"],
                                       settings["content_weight"], settings["style_weight"], settings["tv_weight"],
                                       env_vgg_weights())
    photo = resize_shorter(photo, int(size))
    painting = resize_shorter(painting, default_style_size())
    run = st.session_state["optimisation"] = {"frames": [], "losses": [], "image": None}
    workbench.optimize_photo(loss, photo, painting, settings["steps"], settings["optimizer"], settings["init"],
                             live_progress(run, settings["steps"]))
    show_optimisation(live=False)


def show_optimisation(live: bool = True) -> None:
    """Downloads of the last optimisation (finished or stopped); its image too when the page was re-run."""
    run = st.session_state.get("optimisation")
    if not run or run["image"] is None:
        return
    if live:
        st.image(to_uint8(run["image"]).permute(1, 2, 0).numpy(), caption="last optimisation")
        st.line_chart({"loss": run["losses"]})
    left, right = st.columns(2)
    left.download_button("download PNG", workbench.png_bytes(run["image"]), "optimized.png", "image/png")
    right.download_button("download GIF", workbench.gif_bytes(run["frames"] or [run["image"]]), "optimized.gif",
                          "image/gif")


def main() -> None:
    st.set_page_config(page_title="nst_ff workbench", layout="wide")
    view = st.sidebar.radio("view", ["Stylize", "Video", "Inside the network", "Per-image optimisation"], key="view")
    try:
        if view == "Per-image optimisation":
            optimize_view()
            return
        if view == "Video":
            video_view(choose_checkpoint())
            return
        network, names, description, photo = sidebar()
        (stylize_view if view == "Stylize" else inside_view)(network, names, description, photo)
    except NstError as error:  # one message in the page; the app keeps running
        st.error(str(error))


if __name__ == "__main__":  # streamlit run nst_ff/app/page.py (what nst-workbench does)
    main()
