"""Ctrl-C or SIGTERM in the middle of stylize.py: one line, the shell's exit code, and no half-written clip left
(a batch scheduler, `timeout` or systemd stop a job with SIGTERM)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, make_clip, styled_network
from nst_ff.model.checkpoint import export


@pytest.mark.parametrize("stop, code, words", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_stopped_clip_leaves_nothing_behind(tmp_path, stop, code, words):
    export(tmp_path / "net.pt", styled_network(2), ["a", "b"])
    clip = make_clip(tmp_path / "clip.mp4", frames=400, size=(128, 96))
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "stylize.py"), "--ckpt", str(tmp_path / "net.pt"), "--input", str(clip),
               "--style", "a", "--output", str(out / "clip_a.mp4"), "--backend", "torch"]
    # Ctrl-C as from a terminal, even when the suite itself runs as a background job (which inherits SIGINT ignored)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.glob(".*partial*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the clip was done before it could be stopped: give it more frames"
    time.sleep(0.5)  # into the frames
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code and stderr.strip().splitlines()[-1] == f"stylize.py: stopped by {words}", stderr
    assert "Traceback" not in stderr and list(out.iterdir()) == []
