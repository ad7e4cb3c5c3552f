"""benchmarks/flow_warping.py: the warping error of a clip from its estimated flow agrees with the error from its
true motion (bench_video.py's synthetic clips), and grows with flicker."""

import sys

import pytest
import torch

from conftest import ROOT

pytest.importorskip("cv2")
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_video  # noqa: E402
from flow_warping import flow_warping_error, trusted_backward_flows  # noqa: E402


@pytest.mark.parametrize("kind", ["pan", "zoom"])
def test_estimated_flow_agrees_with_the_true_motion(kind):
    frames, motion = bench_video.synthetic_clip(ROOT / "demo" / "content" / "chelsea.jpg", kind, 5, 72)
    flows = trusted_backward_flows(frames)
    assert len(flows) == 4 and all(mask.mean() > 0.8 for _, mask in flows)
    flicker = (frames + 0.05 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    for clip in (frames, flicker):
        assert flow_warping_error(clip, flows) == pytest.approx(bench_video.warping_error(clip, motion), rel=0.2)
    assert flow_warping_error(flicker, flows) > 5 * flow_warping_error(frames, flows)


def test_a_scene_cut_is_not_trusted_and_not_counted():
    pan, _ = bench_video.synthetic_clip(ROOT / "demo" / "content" / "chelsea.jpg", "pan", 3, 72)
    other, _ = bench_video.synthetic_clip(ROOT / "demo" / "content" / "coffee.jpg", "pan", 3, 72)
    frames = torch.cat([pan, other])  # a cut between frames 2 and 3
    flows = trusted_backward_flows(frames)
    assert not flows[2][1].any() and all(mask.mean() > 0.8 for i, (_, mask) in enumerate(flows) if i != 2)
    within_shots = [flow_warping_error(shot, trusted_backward_flows(shot)) for shot in (pan, other)]
    assert flow_warping_error(frames, flows) == pytest.approx(sum(within_shots) / 2, rel=1e-5)
