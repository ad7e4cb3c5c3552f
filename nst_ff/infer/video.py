"""Reading and writing clips with PyAV, whose wheels bring FFmpeg's own libraries (no ffmpeg program needed).

Frames stream through in batches: decoded, painted and encoded one batch at a time, so memory stays bounded
whatever the clip's length. Every frame keeps its timestamp (variable frame rates survive), the rotation
of phone clips is copied as metadata, and the audio packets are copied unchanged (re-encoded only when the
output's container cannot hold the input's audio codec). The clip is written to a hidden file beside the
output and moved into place only when complete: an interrupted run leaves nothing behind.
"""

import heapq
import io
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from nst_ff.errors import NstError, UsageError
from nst_ff.io.images import UMASK, to_uint8

# The containers written, by file suffix (FFmpeg's muxer names), and the video codec each gets by default.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
DEFAULT_CODECS = {"webm": "libvpx-vp9"}  # H.264 elsewhere: what every player and phone plays
DEFAULT_CODEC = "libx264"
# Clips read as input; anything FFmpeg demuxes would do, this list only tells clips from photos in folders.
VIDEO_SUFFIXES = (*CONTAINERS, ".avi", ".mpg", ".mpeg", ".ts", ".3gp", ".flv", ".wmv", ".ogv")
INSTALL_HINT = 'pip install -e ".[video]"'
# Frames held back to give each its display timestamp: more than any codec's reordering delay (H.264: 16).
REORDER_DEPTH = 16
# Frames a container's count may exceed what its decoder gives for an intact clip (an edit list, an
# undecodable first picture); a truncated clip misses more.
COUNT_SLACK = 2


class VideoError(NstError, ValueError):
    """A clip that cannot be read, or written as asked."""


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def require_av():
    try:
        import av
    except ImportError:
        raise UsageError(f"stylizing video needs PyAV, which is not installed: {INSTALL_HINT}") from None
    return av


@dataclass
class Clip:
    """What a stylize run needs to know of an input clip before it starts."""

    path: Path
    frames: int | None  # as the container says; None when it does not say
    rate: Fraction  # average frames per second
    width: int
    height: int
    rotation: float  # degrees, as phones record it: players turn the picture, the pixels stay as stored
    audio: str | None  # the audio codec, or None
    seconds: float | None  # the container's duration, or None when it does not say
    shown: str  # how messages name the clip: its path, or an upload's own name

    @property
    def estimated_frames(self) -> int | None:
        """The frame count, or one from duration and rate where the container does not count (Matroska, WebM)."""
        return self.frames or (round(self.seconds * self.rate) if self.seconds else None)


def _first_line(error: BaseException) -> str:
    """FFmpeg's reason alone (its message repeats the path and an error number)."""
    return getattr(error, "strerror", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]


def probe(path: str | os.PathLike, shown: str | None = None) -> Clip:
    """Opens `path` and decodes its first frame, so that a file that is no video, has no video stream or no
    frame, or whose codec FFmpeg cannot decode, is refused before anything is written. Messages name the clip
    `shown` (default: its path)."""
    av = require_av()
    path = Path(path)
    shown = shown or str(path)
    if not path.is_file():
        raise UsageError(f"input not found: {shown}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{shown} has no video stream")
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise VideoError(f"{shown} has no video frames")
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
            rate = stream.average_rate or stream.guessed_rate or Fraction(30)
            seconds = container.duration / av.time_base if container.duration else None
            return Clip(path, stream.frames or None, Fraction(rate), first.width, first.height,
                        first.rotation or 0.0, audio, seconds, shown)
    except av.EOFError:  # the file ends before its first frame, as a recording stopped at once does
        raise VideoError(f"{shown} has no video frames") from None
    except av.FFmpegError as error:
        raise VideoError(f"{shown} is not a readable video: {_first_line(error)}") from None


def output_format(path: str | os.PathLike, codec: str | None) -> tuple[str, str]:
    """(FFmpeg container, video codec) for an output file, refused before any work when this FFmpeg cannot
    write them together."""
    av = require_av()
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise UsageError(f"cannot write video {path}: use one of {' '.join(CONTAINERS)}")
    container_name = CONTAINERS[suffix]
    codec = codec or DEFAULT_CODECS.get(container_name, DEFAULT_CODEC)
    try:
        av.codec.Codec(codec, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise UsageError(f"--codec {codec}: this FFmpeg has no such video encoder (e.g. libx264, libx265, "
                         "libvpx-vp9, mpeg4)") from None
    with av.open(io.BytesIO(), "w", format=container_name) as probe_output:
        if codec not in probe_output.supported_codecs:
            raise UsageError(f"--codec {codec} cannot go in a {suffix} file")
    return container_name, codec


@contextmanager
def temporary_beside(path: Path) -> Iterator[Path]:
    """A hidden file beside `path` to write into, moved to `path` if the block completes and removed otherwise
    (an error, Ctrl-C): a half-written clip never appears under the output's name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(handle)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes files private; give the usual mode
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _video_stream(output, clip: Clip, source_stream, codec: str, crf: int | None):
    # H.264 and most codecs want even sizes in 4:2:0; an odd-sized clip keeps its size in 4:4:4.
    chroma = "yuv420p" if clip.width % 2 == 0 and clip.height % 2 == 0 else "yuv444p"
    options = {"crf": str(crf)} if crf is not None else {}
    if codec == "libvpx-vp9" and crf is not None:
        options["b"] = "0"  # libvpx's constant-quality mode needs the bitrate cap off
    stream = output.add_stream(codec, rate=clip.rate, options=options)
    stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, chroma
    # The source's clock, so every frame keeps its exact timestamp (variable frame rates included).
    stream.codec_context.time_base = source_stream.time_base
    if clip.rotation:
        stream.set_display_rotation(clip.rotation)
    return stream


def audio_encoder(clip: Clip, destination: Path) -> str | None:
    """None where the clip's sound goes into `destination` as it is (or it has none); else the encoder that
    converts it, the container's own choice (WebM holds only Opus and Vorbis, so a phone's AAC becomes Opus).
    Refused before any work where this FFmpeg can neither copy nor convert it."""
    av = require_av()
    with av.open(io.BytesIO(), "w", format=CONTAINERS[destination.suffix.lower()]) as probe_output:
        if clip.audio is None or clip.audio in probe_output.supported_codecs:
            return None
        encoder = probe_output.default_audio_codec
    try:
        av.codec.Codec(clip.audio, "r")
        usable = not av.codec.Codec(encoder, "w").experimental  # FFmpeg opens an experimental one only if asked
    except (av.codec.codec.UnknownCodecError, ValueError):
        usable = False
    if not usable:
        raise UsageError(f"{clip.shown}: its {clip.audio} sound cannot go in a {destination.suffix.lower()} file "
                         f"and this FFmpeg cannot convert it to {encoder}; write .mkv instead")
    return encoder


def encoder_rate(encoder: str, rate: int) -> int:
    """The sample rate to encode at: the source's where the encoder takes it, else the nearest above it (Opus
    takes 48 kHz but not a phone's 44.1 kHz), else the highest. The encoder resamples the decoded sound itself."""
    rates = require_av().codec.Codec(encoder, "w").audio_rates
    if not rates or rate in rates:
        return rate
    return min(rates, key=lambda candidate: (candidate < rate, abs(candidate - rate)))


def _audio_stream(output, source_stream, encoder: str | None):
    """The output's audio stream: a copy of the source's (packets go over as they are), or one of `encoder`."""
    if encoder is None:
        return output.add_stream_from_template(source_stream)
    stream = output.add_stream(encoder, rate=encoder_rate(encoder, source_stream.rate))
    stream.layout = source_stream.layout
    return stream


class DisplayStamps:
    """Gives decoded frames, which a decoder returns in display order, timestamps that increase.

    Some files label each frame with its decode-order timestamp: an MP4 written without composition offsets, an
    AVI with packed B-frames (both among OpenCV's sample clips). Their frames come out of the decoder in the right
    order with stamps out of order, which an encoder refuses. The k-th frame shown gets the k-th smallest stamp
    among those decoded so far, found within a window of REORDER_DEPTH frames; a clip whose stamps already
    increase keeps them unchanged."""

    def __init__(self, depth: int = REORDER_DEPTH):
        self.depth = depth
        self.waiting = deque()  # decoded frames not yet handed on, in display order
        self.stamps = []  # a heap of their timestamps
        self.last = None  # the last stamp handed on

    def __call__(self, frames: Iterable) -> list:
        """Frames just decoded -> the frames ready to paint, in order, restamped."""
        for frame in frames:
            self.waiting.append(frame)
            if frame.pts is not None:
                heapq.heappush(self.stamps, frame.pts)
        return [self._next() for _ in range(len(self.waiting) - self.depth)]

    def flush(self) -> list:
        """The frames still held, at the end of the clip."""
        return [self._next() for _ in range(len(self.waiting))]

    def _next(self):
        frame = self.waiting.popleft()
        if frame.pts is not None:
            stamp = heapq.heappop(self.stamps)
            if self.last is not None and stamp <= self.last:  # a repeated stamp: one tick on
                stamp = self.last + 1
            frame.pts = self.last = stamp
        return frame


def to_tensor(frames: list) -> torch.Tensor:
    """Decoded frames -> [B, 3, H, W] in [0, 1]."""
    pixels = np.stack([frame.to_ndarray(format="rgb24") for frame in frames])  # [B, H, W, 3] uint8
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255)


def _encode(av, stream, output, painted: torch.Tensor, sources: list) -> None:
    pixels = to_uint8(painted).permute(0, 2, 3, 1).numpy()  # [B, H, W, 3]
    for image, source in zip(pixels, sources, strict=True):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts, frame.time_base = source.pts, source.time_base
        for packet in stream.encode(frame):
            output.mux(packet)


@dataclass
class _Streams:
    video_in: object
    video_out: object
    audio_in: object | None
    audio_out: object | None
    copy_audio: bool  # audio packets copied as they are, or decoded and encoded again


def _open_streams(source, output, clip: Clip, codec: str, crf: int | None, encoder: str | None) -> _Streams:
    """`encoder`: the one that converts the sound (audio_encoder), None where its packets are copied."""
    video_in = source.streams.video[0]
    audio_in = source.streams.audio[0] if source.streams.audio else None
    audio_out = _audio_stream(output, audio_in, encoder) if audio_in else None
    return _Streams(video_in, _video_stream(output, clip, video_in, codec, crf), audio_in, audio_out, encoder is None)


def _pass_audio(output, streams: _Streams, packet) -> None:
    if streams.copy_audio:
        if packet.dts is not None:  # the demuxer's empty packet at the end has none
            packet.stream = streams.audio_out
            output.mux(packet)
    else:
        for frame in packet.decode():
            output.mux(streams.audio_out.encode(frame))


def _pump(av, source, output, streams: _Streams, paint: Callable, batch_frames: int, progress: Callable) -> int:
    """Demuxes the source once: video frames are painted `batch_frames` at a time, audio goes straight over."""
    pending, done, stamps = [], 0, DisplayStamps()

    def flush() -> None:
        nonlocal done
        _encode(av, streams.video_out, output, paint(to_tensor(pending)), pending)
        done += len(pending)
        progress(len(pending))
        pending.clear()

    def take(frames: Iterable) -> None:
        for frame in frames:
            pending.append(frame)
            if len(pending) >= batch_frames:
                flush()

    for packet in source.demux(*[s for s in (streams.video_in, streams.audio_in) if s is not None]):
        if packet.stream is streams.video_in:
            take(stamps(packet.decode()))
        else:
            _pass_audio(output, streams, packet)
    take(stamps.flush())
    if pending:
        flush()
    output.mux(streams.video_out.encode())  # the encoder's delayed frames
    if streams.audio_out is not None and not streams.copy_audio:
        output.mux(streams.audio_out.encode())
    return done


def transcode(clip: Clip, destination: Path, paint: Callable[[torch.Tensor], torch.Tensor], codec: str,
              crf: int | None = None, batch_frames: int = 8, progress: Callable[[int], None] = lambda n: None) -> int:
    """Writes `destination`: every frame of `clip` through paint(frames [B, 3, H, W]) -> [B, 3, H, W],
    `batch_frames` at a time, with the clip's timestamps, rotation and audio. Returns the number of frames."""
    av = require_av()
    encoder = audio_encoder(clip, destination)
    with temporary_beside(destination) as tmp:
        try:
            with av.open(str(clip.path)) as source, \
                    av.open(str(tmp), "w", format=CONTAINERS[destination.suffix.lower()]) as output:
                streams = _open_streams(source, output, clip, codec, crf, encoder)
                done = _pump(av, source, output, streams, paint, batch_frames, progress)
        except av.FFmpegError as error:
            raise VideoError(f"{clip.shown}: cannot stylize this clip: {_first_line(error)}") from None
        if done == 0 or (clip.frames and done < clip.frames - COUNT_SLACK):
            raise VideoError(f"{clip.shown} is truncated or damaged: {done} of {clip.frames or '?'} frames decoded")
    return done
