"""Checkpoints written before the package moved into subpackages (tests/fixtures, made by commit fa4dead's
code: an export and a one-step training run) still load and paint as they did then (to float rounding)."""

import torch

from conftest import ROOT
from nst_ff.cli import stylize_main
from nst_ff.model.checkpoint import load_checkpoint

FIXTURES = ROOT / "tests" / "fixtures"


def test_an_export_from_before_the_move_paints_as_it_did():
    network, names, description = load_checkpoint(FIXTURES / "before_the_move.pt")
    saved = torch.load(FIXTURES / "before_the_move_outputs.pt", weights_only=True)
    assert names == ["alpha", "beta", "gamma"] and description["style_size"] == 32
    with torch.no_grad():
        outputs = network.eval()(saved["photo"].repeat(3, 1, 1, 1), torch.eye(3))
    # Saved on an AVX-512 Xeon; an AVX2-only CPU's convolution kernels sum in another order (2e-6 apart there).
    torch.testing.assert_close(outputs, saved["outputs"], rtol=0, atol=1e-5)


def test_a_training_checkpoint_from_before_the_move_loads_and_stylizes(tmp_path):
    network, names, _ = load_checkpoint(FIXTURES / "before_the_move_training.ckpt")
    assert names == ["alpha", "beta"] and network.constructor_args() == {"num_styles": 2, "alpha": 0.25}
    photo = FIXTURES.parent.parent / "demo" / "content" / "chelsea.jpg"
    assert stylize_main.main(["--ckpt", str(FIXTURES / "before_the_move_training.ckpt"), "--input", str(photo),
                              "--size", "64", "--all-styles", "--output", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").iterdir())) == 3  # two styles and the sheet
