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
