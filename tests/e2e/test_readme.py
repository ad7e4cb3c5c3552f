"""README.md's commands, as a user types them one after another in one folder (tiny networks stand in for the
ready model and the demo's, and the slow ones run fewer steps): each must work, and print no warning."""

import re
import shutil
import subprocess

import pytest

from conftest import ROOT, make_clip, make_image, styled_network
from nst_ff.model.checkpoint import export

DEMO_STYLES = ["composition_vii", "great_wave", "mondrian", "shipwreck", "starry_night", "the_scream"]
READY_STYLES = sorted(DEMO_STYLES + ["candy", "klee_clouds", "mosaic", "udnie", "vallotton_mauclair", "van_doesburg"])
SCRIPTS = ("stylize.py", "optimize.py", "evaluate.py")
FASTER = {"optimize.py": " --steps 2 --size 32", "evaluate.py": " --size 32 --limit 1 --opt-steps 1"}
FASTER_QUALITY = " --size 32 --limit 1"  # evaluate.py --opt-steps 0: the quality report alone


def readme_commands() -> list[str]:
    """The lines of README's shell blocks that run a script on a trained network, and the variables they use."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("CKPT=") or any(f"python {script} --ckpt $CKPT" in line
            or line.startswith(f"python {script}") and "demo_plus" not in line for script in SCRIPTS)]


def as_run_here(line: str) -> str:
    for script in SCRIPTS:
        if f"python {script}" in line:
            line = line.split(" #")[0].replace(f"python {script}", f"python {ROOT / script}")
            line += FASTER_QUALITY if "--opt-steps 0" in line else FASTER.get(script, "")
    return line


@pytest.mark.slow
def test_readmes_commands_work_in_order_without_warnings(tmp_path):
    shutil.copytree(ROOT / "demo", tmp_path / "demo")
    shutil.copy(ROOT / "demo" / "content" / "chelsea.jpg", tmp_path / "photo.jpg")
    shutil.copy(ROOT / "demo" / "styles" / "mondrian.jpg", tmp_path / "painting.jpg")
    for i in range(2):
        make_image(tmp_path / "photos" / f"p{i}.png", size=(48, 40), seed=i)
    make_clip(tmp_path / "clip.mp4", frames=6)
    (tmp_path / "checkpoints" / "demo").mkdir(parents=True)
    export(tmp_path / "checkpoints" / "demo" / "last.ckpt", styled_network(len(DEMO_STYLES), alpha=0.25), DEMO_STYLES)
    export(tmp_path / "checkpoints" / "ready12.pt", styled_network(len(READY_STYLES), alpha=0.25), READY_STYLES)
    commands = readme_commands()
    assert len(commands) >= 15  # the parsing found README's sections
    script = "set -euo pipefail\nexport NST_FF_VGG_WEIGHTS=random\n" + "\n".join(map(as_run_here, commands))
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warn" not in result.stderr.lower(), result.stderr[-3000:]
    assert (tmp_path / "stylized" / "photo_starry_night.png").is_file() and (tmp_path / "painted.png").is_file()
    assert (tmp_path / "clip_starry.mp4").is_file() and (tmp_path / "flicker.mp4").is_file()
