"""The warping error of a real clip, whose motion nobody knows: Lai et al. (ECCV 2018) with the motion estimated
from the input frames by OpenCV's DIS optical flow, and the pixels where it cannot be trusted (occlusions, flow
errors) left out by a forward-backward consistency check, as Lai et al. do with FlowNet2's flow.

The flow is DIS at its MEDIUM preset, finer than the FAST one that `--temporal flow` blends along: the
yardstick should not be the method's own flow (bench_video.py's synthetic clips, whose motion is exact, show
how far the two agree)."""

import cv2
import numpy as np
import torch

from nst_ff.infer.temporal import SceneCuts

CONSISTENCY = 0.01  # |forward + backward|^2 <= CONSISTENCY * (|forward|^2 + |backward|^2) + 0.5 (Sundaram et al.)


def _gray(frame: torch.Tensor) -> np.ndarray:
    """[3, H, W] in [0, 1] -> [H, W] uint8 luma."""
    rgb = frame.permute(1, 2, 0).float().numpy()
    return (rgb @ np.float32([0.299, 0.587, 0.114]) * 255).round().clip(0, 255).astype(np.uint8)


def _remap(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` [H, W, C] sampled at each pixel plus `flow` [H, W, 2] (bilinear, border replicated)."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def trusted_backward_flows(frames: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """For frames 1..T-1 of `frames` [T, 3, H, W]: (flow [H, W, 2] to where each pixel was in the previous frame,
    mask [H, W] of the pixels whose flow passes the forward-backward check and stays inside the frame; none for a
    frame that starts a new scene)."""
    # A cut passes the consistency check on flat areas: the colour-histogram detector of --temporal finds it.
    starts = SceneCuts()(frames)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grays = [_gray(frame) for frame in frames]
    height, width = grays[0].shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    flows = []
    for previous, current, start in zip(grays[:-1], grays[1:], starts[1:], strict=True):
        backward = dis.calc(current, previous, None)  # current pixel -> previous frame
        forward = dis.calc(previous, current, None)  # previous pixel -> current frame
        forward_there = _remap(forward, backward)  # the forward flow at where each pixel came from
        round_trip = backward + forward_there  # ~0 where the two flows agree
        bound = CONSISTENCY * ((backward ** 2).sum(-1) + (forward_there ** 2).sum(-1)) + 0.5
        x, y = grid_x + backward[..., 0], grid_y + backward[..., 1]
        inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
        flows.append((backward, ((round_trip ** 2).sum(-1) <= bound) & inside & (not start)))
    return flows


def flow_warping_error(outputs: torch.Tensor, flows: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over frames of the squared difference between each output [T, 3, H, W] and the previous output
    moved along the input's flow, over the trusted pixels, times 1000 (the scale of bench_video's true-motion
    error). Frames with no trusted pixel (a scene cut) say nothing about flicker and are left out; NaN if all are."""
    images = outputs.clamp(0, 1).permute(0, 2, 3, 1).float().contiguous().numpy()
    errors = [((images[t] - _remap(images[t - 1], flow)) ** 2).mean(-1)[mask].mean()
              for t, (flow, mask) in enumerate(flows, start=1) if mask.any()]
    return 1000 * float(np.mean(errors)) if errors else float("nan")
