"""Video: clips in, clips out (frames, timestamps, size, rotation, audio), bad clips refused, temporal stability."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import conftest
from conftest import SAMPLE_RATE, make_clip, make_image, scene, styled_network
from nst_ff.cli.stylize_main import main
from nst_ff.errors import UsageError
from nst_ff.infer import video
from nst_ff.infer.temporal import NormSmoother, SceneCuts
from nst_ff.model.checkpoint import export
from nst_ff.train.stability import stability_loss, warp

av = pytest.importorskip("av")
STYLES = ["alpha", "beta", "gamma"]


def read_clip(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        audio = container.streams.audio[0] if container.streams.audio else None
        return {"frames": len(frames), "size": (frames[0].width, frames[0].height),
                "times": [float(f.pts * f.time_base) for f in frames], "rotation": frames[0].rotation,
                "rate": stream.average_rate, "audio": audio.codec_context.name if audio else None,
                "audio_rate": audio.rate if audio else None,
                "pixels": np.stack([f.to_ndarray(format="rgb24") for f in frames])}


@pytest.fixture
def ckpt(tmp_path) -> Path:
    path = tmp_path / "model.pt"
    export(path, styled_network(len(STYLES)), STYLES)
    return path


@pytest.mark.parametrize("temporal", ["on", "off"])
def test_round_trip_keeps_frames_rate_size_audio(tmp_path, ckpt, temporal, capsys):
    clip = make_clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "beta",
                 "--temporal", temporal]) == 0
    source, result = read_clip(clip), read_clip(out)
    assert result["frames"] == source["frames"] == 12
    assert result["size"] == (64, 48) and result["rate"] == 24
    assert result["times"] == pytest.approx(source["times"])
    assert result["audio"] == "aac" and result["audio_rate"] == SAMPLE_RATE
    assert np.abs(result["pixels"].astype(int) - source["pixels"]).mean() > 10  # painted, not copied
    assert "12 frames" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def remux(source: Path, destination: Path, decode_order_stamps: bool = False, options=None) -> Path:
    """The clip's packets in a new file; `decode_order_stamps`: each video packet stamped with its decode time, as
    an MP4 written without composition offsets is (one of OpenCV's sample clips)."""
    with av.open(str(source)) as inside, av.open(str(destination), "w", options=options or {}) as outside:
        streams = {stream.index: outside.add_stream_from_template(stream) for stream in inside.streams}
        for packet in inside.demux():
            if packet.dts is None:
                continue
            if decode_order_stamps and packet.stream.type == "video":
                packet.pts = packet.dts
            packet.stream = streams[packet.stream.index]
            outside.mux(packet)
    return destination


def test_frames_stamped_in_decode_order_keep_their_order(tmp_path, ckpt):
    clip = remux(make_clip(tmp_path / "b_frames.mp4", frames=24, pan=2), tmp_path / "dts.mp4", decode_order_stamps=True)
    source = read_clip(clip)
    assert source["times"] != sorted(source["times"])  # the decoder gives display order with stamps out of order
    out = tmp_path / "out.mp4"
    assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "beta"]) == 0
    result = read_clip(out)
    assert result["frames"] == source["frames"] and result["times"] == sorted(source["times"])
    assert result["audio"] == "aac"


def test_display_stamps_restamp_in_order_and_never_repeat():
    class Frame:
        def __init__(self, pts):
            self.pts = pts

    stamps = video.DisplayStamps(depth=3)
    frames = [Frame(p) for p in (0, 3, 2, 5, 1, 4, 4, None, 9)]
    out = stamps(frames[:5]) + stamps(frames[5:]) + stamps.flush()
    assert out == frames  # the decoder's order is kept
    assert [f.pts for f in out] == [0, 1, 2, 3, 4, 5, 6, None, 9]


def test_clip_shorter_than_its_container_says_is_refused(tmp_path, ckpt, capsys):
    whole = remux(make_clip(tmp_path / "clip.mp4", frames=24), tmp_path / "faststart.mp4",
                  options={"movflags": "faststart"})  # the index first: a cut file still opens
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    out = tmp_path / "out" / "result.mp4"
    assert main(["--ckpt", str(ckpt), "--input", str(cut), "--output", str(out), "--style", "alpha"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar, cleared in place
    assert last.startswith("stylize.py: error:") and last.endswith("is truncated or damaged: 12 of 24 frames decoded")
    assert not out.exists() and not [p for p in out.parent.iterdir()]


def test_variable_rate_rotation_and_mix(tmp_path, ckpt):
    times = [0, 40, 80, 200, 210, 220, 400, 420]  # milliseconds: an uneven, variable frame rate
    clip = make_clip(tmp_path / "phone.mov", frames=8, rate=1, rotation=90, audio=False,
                     pts=[t * 1 for t in times])
    out = tmp_path / "out.mkv"
    assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out),
                 "--style-mix", "alpha:0.5,gamma:0.5", "--crf", "30"]) == 0
    result = read_clip(out)
    assert result["frames"] == 8 and result["rotation"] == 90
    assert result["times"] == pytest.approx(read_clip(clip)["times"], abs=1e-3)


def test_folder_of_clips_to_folder(tmp_path, ckpt):
    make_clip(tmp_path / "clips" / "a.mp4", frames=3, audio=False)
    make_clip(tmp_path / "clips" / "sub" / "b.mkv", frames=3, audio=False)
    make_clip(tmp_path / "clips" / ".c.x1y2.partial.mp4", frames=3, audio=False)  # another run's clip being written
    assert main(["--ckpt", str(ckpt), "--input", str(tmp_path / "clips"), "--output", str(tmp_path / "out"),
                 "--style", "alpha,gamma", "--tile", "32"]) == 0
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*"))
    assert written == ["a_alpha.mp4", "a_gamma.mp4", "sub/b_alpha.mkv", "sub/b_gamma.mkv"]
    assert all(read_clip(tmp_path / "out" / name)["frames"] == 3 for name in written)


def test_clips_written_inside_the_input_folder_are_not_read_again(tmp_path, ckpt, capsys):
    folder = tmp_path / "clips"
    make_clip(folder / "a.mp4", frames=2, audio=False)
    args = ["--ckpt", str(ckpt), "--input", str(folder), "--output"]
    assert main(args + [str(folder / "out"), "--style", "alpha"]) == 0
    assert main(args + [str(folder / "out"), "--style", "beta"]) == 0  # a second style, the first run's clip beside
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["a_alpha.mp4", "a_beta.mp4"]
    capsys.readouterr()
    assert main(args + [str(folder), "--style", "alpha"]) == 2
    err = capsys.readouterr().err
    assert "is the input folder: its clips would be read as input next time" in err and err.count("\n") == 1, err
    assert sorted(p.name for p in folder.iterdir()) == ["a.mp4", "out"]


def test_clips_sharing_a_name_keep_their_extensions_apart(tmp_path, ckpt, capsys):
    folder, out = tmp_path / "clips", tmp_path / "out"
    make_clip(folder / "a.mp4", frames=2, audio=False)
    make_clip(folder / "a.ts", frames=3, audio=False)  # written as MP4 too: a_alpha.mp4 twice without the extensions
    make_clip(folder / "a_mp4.ts", frames=3, audio=False)  # a_mp4_alpha.mp4, as a.mp4's: refused before any work
    args = ["--ckpt", str(ckpt), "--input", str(folder), "--output", str(out), "--style", "alpha"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"would both be written to {out / 'a_mp4_alpha.mp4'}" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    (folder / "a_mp4.ts").unlink()
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_mp4_alpha.mp4", "a_ts_alpha.mp4"]
    assert read_clip(out / "a_mp4_alpha.mp4")["frames"] == 2 and read_clip(out / "a_ts_alpha.mp4")["frames"] == 3


def test_folder_of_photos_and_clips_names_the_clips_it_skips(tmp_path, ckpt, capsys):
    folder, out = tmp_path / "mixed", tmp_path / "out"
    make_image(folder / "photo.png")
    clip = make_clip(folder / "a.mp4", frames=2, audio=False)
    assert main(["--ckpt", str(ckpt), "--input", str(folder), "--output", str(out), "--style", "alpha"]) == 0
    assert f"skipping 1 clip(s) in {folder}, a folder of photos: stylize them with --input {clip}" in \
        capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["photo_alpha.png"]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_onnx_model_paints_clips(tmp_path, ckpt, backend):
    pytest.importorskip("onnxruntime")
    pytest.importorskip(backend)
    onnx = tmp_path / "model.onnx"
    assert main(["--ckpt", str(ckpt), "--export", str(onnx)]) == 0
    clip = make_clip(tmp_path / "clip.mp4", frames=4, audio=False)
    args = ["--ckpt", str(onnx), "--backend", backend, "--input", str(clip), "--style", "alpha"]
    assert main(args + ["--output", str(tmp_path / "norms.mp4"), "--temporal", "norms"]) == 2  # needs PyTorch layers
    assert main(args + ["--output", str(tmp_path / "out.mp4")]) == 0  # on: the flow part
    assert read_clip(tmp_path / "out.mp4")["frames"] == 4


def bad_clips(tmp_path: Path) -> list[tuple[str, Path]]:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = tmp_path / "empty.mkv"  # MP4 drops a track without samples; Matroska keeps it
    with av.open(str(empty), "w") as container:  # a valid container with a video stream and no frame
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = 64, 48
        container.start_encoding()  # the header alone
    truncated = tmp_path / "truncated.mp4"
    make_clip(truncated, frames=12)
    truncated.write_bytes(truncated.read_bytes()[: len(truncated.read_bytes()) // 2])
    audio_only = tmp_path / "audio.mkv"
    with av.open(str(audio_only), "w") as container:
        tone = container.add_stream("aac", rate=SAMPLE_RATE)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="fltp", layout="mono")
        sound.sample_rate = SAMPLE_RATE
        container.mux(tone.encode(sound))
        container.mux(tone.encode())
    return [("not a readable video: Invalid data", text), ("no video frames", empty),
            ("not a readable video: Invalid data", truncated), ("no video stream", audio_only)]


def test_bad_clips_are_one_line_exit_2_nothing_written(tmp_path, ckpt, capsys):
    for expected, clip in bad_clips(tmp_path):
        out = tmp_path / "out" / "result.mp4"
        assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "alpha"]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options, expected", [
    (["--output", "out.gif"], "cannot write video"),
    (["--output", "out.mp4", "--codec", "no_such_codec"], "no such video encoder"),
    (["--output", "out.webm", "--codec", "libx264"], "cannot go in a .webm file"),
    (["--output", "out.mp4", "--crf", "99"], "--crf 99"),
    (["--output", "out.mp4", "--tile", "64", "--temporal", "norms"], "use --temporal flow or on"),
    (["--output", "-"], "not clips"),
    (["--output", "out.mp4", "--format", "jpg"], "--format applies to photos, not clips"),
    (["--output", "out.mp4", "--steps", "3"], "--steps is used with --interpolate A,B"),
    (["--output", "out.mp4", "--stroke-scale", "9"], "--stroke-scale 9.0: must be between 0.25 and 8"),
    (["--output", "out.mp4", "--batch-size", "100000"], "--batch-size 100000: must be between 1 and 256"),
    (["--output", "out.mp4", "--batch-size", "0"], "--batch-size 0: must be between 1 and 256"),
])
def test_bad_video_options(tmp_path, ckpt, capsys, monkeypatch, options, expected):
    monkeypatch.chdir(tmp_path)
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    before = set(tmp_path.iterdir())
    assert main(["--ckpt", str(ckpt), "--input", str(clip), "--style", "alpha", *options]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert set(tmp_path.iterdir()) == before


def test_existing_output_kept_without_overwrite(tmp_path, ckpt, capsys):
    clip = make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "alpha"]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"


def test_interrupted_run_leaves_no_output(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=12, audio=False)
    out = tmp_path / "out.mp4"
    calls = []

    def interrupted(frames):  # Ctrl-C in the middle of the clip
        calls.append(len(frames))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return frames

    with pytest.raises(KeyboardInterrupt):
        video.transcode(video.probe(clip), out, interrupted, "libx264", batch_frames=4)
    assert list(tmp_path.iterdir()) == [clip]


def warping_error(frames: torch.Tensor, shift: int) -> float:
    """Lai et al.'s warping error for a pan of a whole number of pixels to the left per frame: each frame against
    the previous one moved by the true motion, over the pixels both see."""
    return (frames[1:, ..., :-shift] - frames[:-1, ..., shift:]).pow(2).mean().item()


@pytest.mark.parametrize("mode", ["on", "flow"])
def test_stability_lowers_the_warping_error_of_a_pan(tmp_path, ckpt, mode):
    clip = make_clip(tmp_path / "pan.mp4", frames=12, size=(96, 64), pan=2, audio=False)  # 2 px a frame
    errors = {}
    for temporal in ("off", mode):
        out = tmp_path / f"{temporal}.mp4"
        assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "beta",
                     "--temporal", temporal, "--crf", "12"]) == 0
        frames = torch.from_numpy(read_clip(out)["pixels"]).permute(0, 3, 1, 2).float() / 255
        errors[temporal] = warping_error(frames, 2)
    assert errors[mode] < 0.7 * errors["off"]


def frames_of_a_pan(count: int = 8) -> torch.Tensor:
    return torch.stack([torch.from_numpy(scene(64, 48, 3 * i)).permute(2, 0, 1).float() / 255 for i in range(count)])


def smoothed(network, smoother: NormSmoother, frames: torch.Tensor, starts: list[bool], batch: int) -> torch.Tensor:
    weights = torch.eye(len(STYLES))[[1] * len(frames)]
    outputs = []
    for i in range(0, len(frames), batch):
        with torch.no_grad(), smoother.smoothing(starts[i:i + batch]):
            outputs.append(network(frames[i:i + batch], weights[i:i + batch]))
    return torch.cat(outputs)


def test_norm_smoothing_carries_statistics_across_batches_and_restarts_at_cuts():
    network, frames = styled_network(len(STYLES)), frames_of_a_pan()
    with torch.no_grad():
        plain = network(frames, torch.eye(len(STYLES))[[1] * len(frames)])
    starts = [True, False, False, False, False, True, False, False]
    one_by_one = smoothed(network, NormSmoother(network), frames, starts, batch=1)
    assert torch.allclose(smoothed(network, NormSmoother(network), frames, starts, batch=3), one_by_one, atol=1e-5)
    for t in (0, 5):  # a scene's first frame has no history: exactly the per-frame output
        assert torch.allclose(one_by_one[t], plain[t], atol=1e-5)
    assert (one_by_one[6] - plain[6]).abs().max() > 1e-3  # later frames lean on the running statistics
    # no memory at all is the per-frame network; and the hooks are gone afterwards (photos stay bit-identical)
    assert torch.allclose(smoothed(network, NormSmoother(network, momentum=0), frames, starts, 4), plain, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(network(frames, torch.eye(len(STYLES))[[1] * len(frames)]), plain)


def test_stability_loss_is_zero_for_a_motion_equivariant_network():
    images = torch.rand(2, 3, 32, 32)
    weights = torch.ones(2, 1)
    identity = lambda x, w: x  # noqa: E731 (moves with its input, so nothing to penalise but the noise)
    assert stability_loss(identity, images, weights, images, noise=0.0).item() == pytest.approx(0, abs=1e-10)
    constant = lambda x, w: torch.zeros_like(x)  # noqa: E731
    assert stability_loss(constant, images, weights, images, noise=0.0).item() > 0.01
    moved, inside = warp(images, torch.tensor([[[1.0, 0, 0.25], [0, 1, 0]]]).repeat(2, 1, 1))
    assert inside[..., :3].all() and not inside[..., -2:].any()  # 1/8 of 32 px come from outside
    assert torch.allclose(moved[..., :20], images[..., 4:24], atol=1e-6)


def test_scene_cuts():
    dark, bright = torch.full((1, 3, 32, 32), 0.1), torch.full((1, 3, 32, 32), 0.9)
    cuts = SceneCuts()
    assert cuts(torch.cat([dark, dark + 0.01, bright])) == [True, False, True]
    assert cuts(bright) == [False]  # the state carries over to the next batch
    assert cuts(frames_of_a_pan()) == [True] + [False] * 7


def test_training_with_the_stability_loss_logs_it_and_adds_it_to_the_total(tmp_path, image_dirs):
    from hydra import compose, initialize_config_dir
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from conftest import ROOT, train_overrides
    from nst_ff.train.training import train

    content, styles = image_dirs
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        train(compose("train", overrides=train_overrides(tmp_path, content, styles, steps=2) + [
            "stability.weight=10", "logging.image_every_n_steps=0", "quality.enabled=false"]))
    events = EventAccumulator(str(tmp_path / "runs" / "test"), size_guidance={"scalars": 0})
    events.Reload()
    for total, content_term, style, tv, stability in zip(*(events.Scalars(f"loss/{name}") for name in
                                                           ("total", "content", "style", "tv", "stability")),
                                                         strict=True):
        assert stability.value > 0
        assert total.value == pytest.approx(content_term.value + style.value + 10 * stability.value, rel=1e-5)
        assert tv.value >= 0


def test_bench_video_runs_end_to_end(tmp_path, ckpt, image_dirs):
    import json
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_video

    content, styles = image_dirs
    photos = sorted(content.rglob("*.png"))[:2]
    frames, motion = bench_video.synthetic_clip(photos[0], "pan", 4, 32)
    identity = torch.eye(2, 3).expand(len(motion), 2, 3)
    assert bench_video.warping_error(frames, motion) < bench_video.warping_error(frames, identity)  # true motion
    clip = make_clip(tmp_path / "phone.mp4", frames=6, size=(64, 48), pan=2)
    assert bench_video.main(["--ckpt", str(ckpt), "--style", "beta", "--styles", str(styles), "--photos",
                             *map(str, photos), "--clips", str(clip), "--height", "32", "--frames", "11",
                             "--vgg-weights", "random", "--strip", str(tmp_path / "strip.png"),
                             "--json", str(tmp_path / "video.json")]) == 0
    rows = json.loads((tmp_path / "video.json").read_text())["results"]
    assert [row["mode"] for row in rows] == list(bench_video.MODES) * 3
    synthetic, real = rows[:8], rows[8:]
    assert all(row["warping_error"] > 0 and row["flow_warping_error"] > 0 and row["fps"] > 0 for row in synthetic)
    # a real clip has no true motion: its warping error is the estimated flow's alone (6 frames at 32 px high)
    assert real[0]["clip"] == "clip phone 42x32"
    assert all(row["warping_error"] is None and row["flow_warping_error"] > 0 for row in real)
    assert real[0]["relative_flow_warping_error"] == 1
    # the input's own error from the same flow, one figure per clip
    assert len({row["input_flow_warping_error"] for row in real}) == 1 and real[0]["input_flow_warping_error"] > 0
    assert (tmp_path / "strip.png").is_file()


@pytest.mark.parametrize("temporal", ["on", "off"])
def test_stroke_scale_paints_clips_at_their_own_size(tmp_path, ckpt, temporal):
    clip = make_clip(tmp_path / "clip.mp4", frames=5, size=(96, 64), pan=2)
    painted = {}
    for scale in ("1", "2"):
        out = tmp_path / f"scale{scale}.mp4"
        assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "gamma",
                     "--temporal", temporal, "--stroke-scale", scale]) == 0
        painted[scale] = read_clip(out)
    assert painted["2"]["frames"] == 5 and painted["2"]["size"] == (96, 64) and painted["2"]["audio"] == "aac"
    assert np.abs(painted["2"]["pixels"].astype(int) - painted["1"]["pixels"]).mean() > 5


def test_norm_smoothing_keeps_one_average_per_stroke_scale_pass():
    """--stroke-scale paints each frame at full size and at 1/scale: two streams of statistics, never mixed. A
    still clip's running statistics are each frame's own, so only a mix of the two passes' would change it."""
    from nst_ff.infer.clips import painter
    from nst_ff.infer.stylizer import Painting
    from nst_ff.infer.temporal import Temporal

    network, pan = styled_network(len(STYLES)), frames_of_a_pan()
    row, painting = torch.eye(len(STYLES))[2], Painting(tile=0, stroke_scale=2.0)

    def paint(frames: torch.Tensor, temporal) -> torch.Tensor:  # in batches of 3, as a clip goes through
        paint = painter(network, row, torch.device("cpu"), torch.float32, painting, temporal)
        return torch.cat([paint(frames[i:i + 3]) for i in range(0, len(frames), 3)])

    still = pan[:1].expand(len(pan), -1, -1, -1)
    assert torch.allclose(paint(still, Temporal(network, flow=False)), paint(still, None), atol=1e-5)
    assert (paint(pan, Temporal(network, flow=False)) - paint(pan, None)).abs().max() > 1e-3  # it does smooth


def test_audio_reencoded_where_the_container_cannot_hold_it(tmp_path, ckpt, monkeypatch):
    monkeypatch.setattr(conftest, "SAMPLE_RATE", 44100)  # a phone's rate, which Opus does not take
    clip = make_clip(tmp_path / "clip.mp4", frames=12)  # AAC audio, which WebM cannot hold; half a second
    out = tmp_path / "out.webm"
    assert main(["--ckpt", str(ckpt), "--input", str(clip), "--output", str(out), "--style", "alpha"]) == 0
    result = read_clip(out)
    assert result["frames"] == 12 and result["audio"] == "opus"
    with av.open(str(out)) as container:
        seconds = sum(frame.samples for frame in container.decode(audio=0)) / container.streams.audio[0].rate
    assert seconds == pytest.approx(0.5, abs=0.05)


def test_audio_that_cannot_be_converted_is_refused(tmp_path):
    clip = video.probe(make_clip(tmp_path / "clip.mp4", frames=2))
    unknown = dataclasses.replace(clip, audio="no_such_codec")  # a sound this FFmpeg cannot decode
    with pytest.raises(UsageError, match="its no_such_codec sound cannot go in a .webm file and this FFmpeg cannot "
                                         "convert it to opus; write .mkv instead"):
        video.audio_encoder(unknown, tmp_path / "out.webm")
    assert video.audio_encoder(clip, tmp_path / "out.mkv") is None  # Matroska holds AAC: copied as it is


def test_bench_video_default_path_row_on_openvino(tmp_path, ckpt, image_dirs, monkeypatch):
    import json
    import sys

    from conftest import ROOT

    pytest.importorskip("openvino")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_video

    monkeypatch.setenv("NST_FF_EXPORT_CACHE", str(tmp_path / "cache"))
    content, styles = image_dirs
    photos = sorted(content.rglob("*.png"))[:1]
    assert bench_video.main(["--ckpt", str(ckpt), "--style", "beta", "--styles", str(styles), "--photos",
                             *map(str, photos), "--height", "32", "--frames", "11", "--vgg-weights", "random",
                             "--default-path", "--json", str(tmp_path / "video.json")]) == 0
    rows = json.loads((tmp_path / "video.json").read_text())["results"]
    assert [row["mode"] for row in rows] == [*bench_video.MODES, bench_video.DEFAULT_PATH]
    assert rows[-1]["warping_error"] < rows[0]["warping_error"]  # the flow steadies the export's frames too
    monkeypatch.setenv("NST_FF_EXPORT_CACHE", "off")  # no export: one line, not a PyTorch row under its name
    with pytest.raises(SystemExit, match="--default-path needs .* the export cache on"):
        bench_video.main(["--ckpt", str(ckpt), "--style", "beta", "--default-path", "--vgg-weights", "random"])
