import pytest
import torch
import torchvision
from torchvision.models import vgg as vgg_models

from nst_ff.loss.perceptual import PerceptualLoss, gram_matrix, total_variation
from nst_ff.loss.vgg import VGGFeatures, VGGWeightsError, layer_names

RANDOM_VGG = {"arch": "vgg16", "weights": "random"}


def test_gram_matches_its_formula():
    features = torch.randn(2, 5, 4, 3)
    expected = torch.stack([f.reshape(5, 12) @ f.reshape(5, 12).T / 12 for f in features])
    assert torch.allclose(gram_matrix(features), expected, atol=1e-6)


def test_gram_stays_float32_under_bf16_autocast():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gram_matrix(torch.randn(1, 3, 4, 4).bfloat16()).dtype == torch.float32


def test_total_variation_formula():
    image = torch.zeros(1, 1, 2, 3)
    image[..., 0, 0] = 1.0
    # 1 vertical difference of 1 among 3, 1 horizontal among 4
    assert torch.allclose(total_variation(image), torch.tensor([1 / 3 + 1 / 4]))


@pytest.mark.parametrize(
    "arch,expected",
    [
        ("vgg16", {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "pool4": 23, "relu5_3": 29}),
        ("vgg19", {"relu1_2": 3, "relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_4": 35, "conv5_1": 28}),
    ],
)
def test_layer_names_map_to_torchvision_indices(arch, expected):
    names = layer_names(getattr(torchvision.models, arch)().features)
    assert {name: names.index(name) for name in expected} == expected


def test_vgg_is_cut_after_deepest_layer_and_frozen():
    vgg = VGGFeatures(["relu2_2", "relu1_2"], weights="random")
    assert len(vgg.features) == 9
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    out = vgg(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu1_2", "relu2_2"} and out["relu2_2"].shape == (1, 128, 16, 16)


def test_unknown_layer_and_arch_are_named():
    with pytest.raises(ValueError, match="relu9_9"):
        VGGFeatures(["relu9_9"], weights="random")
    with pytest.raises(ValueError, match="vgg11"):
        VGGFeatures(["relu1_2"], arch="vgg11", weights="random")


def test_local_weights_load_as_features_or_whole_vgg_state_dict(tmp_path):
    torch.manual_seed(0)
    features = vgg_models.make_layers(vgg_models.cfgs["D"]).state_dict()  # VGG16's, without its 120M classifier
    torch.save(features, tmp_path / "features.pth")
    # a whole torchvision VGG's keys: features.* plus classifier.* (a stand-in: the real one is ~500 MB)
    whole = {f"features.{k}": v for k, v in features.items()} | {"classifier.0.weight": torch.zeros(4, 4)}
    torch.save(whole, tmp_path / "whole.pth")
    image = torch.rand(1, 3, 32, 32)
    a = VGGFeatures(["relu2_2"], weights=str(tmp_path / "features.pth"))(image)["relu2_2"]
    b = VGGFeatures(["relu2_2"], weights=str(tmp_path / "whole.pth"))(image)["relu2_2"]
    assert torch.equal(a, b)


def test_bad_weights_files_are_named(tmp_path):
    with pytest.raises(VGGWeightsError, match="not found: .*missing.pth"):
        VGGFeatures(["relu1_2"], weights=str(tmp_path / "missing.pth"))
    torch.save({"0.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    torch.save(torch.zeros(2), tmp_path / "tensor.pth")
    (tmp_path / "text.pth").write_text("not weights\n")
    (tmp_path / "empty.pth").write_bytes(b"")
    for name, message in [("wrong.pth", "wrong.pth does not hold vgg16 feature weights (Missing key(s) in "),
                          ("tensor.pth", "tensor.pth holds a Tensor, not a state dict of vgg16 weights"),
                          ("text.pth", "text.pth: corrupt or not a PyTorch file ("),
                          ("empty.pth", "empty.pth: EOFError: empty or cut short")]:
        with pytest.raises(VGGWeightsError) as error:
            VGGFeatures(["relu1_2"], weights=str(tmp_path / name))
        # one line, short, and never torch's advice to load with weights_only=False
        assert message in str(error.value) and "\n" not in str(error.value) and len(str(error.value)) < 400


def test_failed_imagenet_download_names_the_alternatives(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(VGGWeightsError) as error:
        VGGFeatures(["relu1_2"], weights="imagenet")
    message = str(error.value)
    assert "\n" not in message and "NST_FF_VGG_WEIGHTS" in message and "random" in message


def make_loss(**kwargs) -> PerceptualLoss:
    torch.manual_seed(0)
    loss = PerceptualLoss(RANDOM_VGG, **kwargs)
    loss.set_style_targets([torch.rand(3, 40, 48), torch.rand(1, 3, 32, 32)])
    return loss


def test_terms_follow_their_formulas():
    loss = make_loss(content_weight=2.0, style_weight=3.0, tv_weight=4.0)
    output, content = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    terms = loss(output, content, weights)
    out_f, con_f = loss.vgg(output), loss.vgg(content)

    def rel(value, target):
        dims = tuple(range(1, value.dim()))
        return ((value - target) ** 2).mean(dims) / (target**2).mean(dims)

    assert torch.allclose(terms["content"], rel(out_f["relu3_3"], con_f["relu3_3"]).mean(), rtol=1e-5)
    style = 0
    for layer in loss.style_layers:
        grams = getattr(loss, f"gram_{layer}")
        target = torch.stack([grams[0], 0.25 * grams[0] + 0.75 * grams[1]])
        value = rel(gram_matrix(out_f[layer]), target).mean()
        assert torch.allclose(terms[f"style/{layer}"], value, rtol=1e-5)
        style = style + value
    assert torch.allclose(terms["style"], style, rtol=1e-5)
    assert torch.allclose(terms["tv"], total_variation(output).mean())
    assert torch.allclose(terms["total"], 2 * terms["content"] + 3 * terms["style"] + 4 * terms["tv"], rtol=1e-5)


def test_style_scales_weigh_each_style_and_blends_by_their_weights():
    torch.manual_seed(0)
    plain = PerceptualLoss(RANDOM_VGG)
    scaled = PerceptualLoss(RANDOM_VGG, style_scales={"b": 3.0})
    images = [torch.rand(3, 40, 48), torch.rand(1, 3, 32, 32)]
    scaled.vgg.load_state_dict(plain.vgg.state_dict())
    plain.set_style_targets(images)
    scaled.set_style_targets(images, ["a", "b"])
    output, content = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for weights, factor in (([[1.0, 0.0], [1.0, 0.0]], 1.0), ([[0.0, 1.0], [0.0, 1.0]], 3.0),
                            ([[0.5, 0.5], [0.5, 0.5]], 2.0)):
        weights = torch.tensor(weights)
        ours, theirs = scaled(output, content, weights), plain(output, content, weights)
        assert torch.allclose(ours["style"], factor * theirs["style"], rtol=1e-5)
        assert torch.allclose(ours["style/relu1_2"], theirs["style/relu1_2"])  # logged as the yardstick sees it
    assert scaled.settings()["style_scales"] == {"b": 3.0} and "style_scales" not in plain.settings()
    with pytest.raises(ValueError, match="needs the styles' names"):
        scaled.set_style_targets(images)
    with pytest.raises(ValueError, match="1 names for 2 style images"):
        scaled.set_style_targets(images, ["a"])
    whole = PerceptualLoss(RANDOM_VGG, style_scales={"a": 2})  # a whole number, one style
    whole.set_style_targets(images[:1], ["a"])
    assert whole(output, content, torch.ones(2, 1))["style"].isfinite()


def test_style_layer_weights_scale_their_terms():
    uniform = make_loss(style_weight=2.0)  # same seed, same random VGG and targets
    layer_weights = {"relu1_2": 0.5, "relu2_2": 4.0, "relu3_3": 0.0, "relu4_3": 1.0}
    weighted = make_loss(style_layers=layer_weights, style_weight=2.0)
    output, content, weights = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.tensor([[1.0, 0], [0, 1]])
    plain, terms = uniform(output, content, weights), weighted(output, content, weights)
    expected = sum(w * plain[f"style/{layer}"] for layer, w in weighted.style_layers.items())
    assert torch.allclose(terms["style"], expected, rtol=1e-5)
    assert torch.allclose(terms["total"], terms["content"] + 2 * expected, rtol=1e-5)
    assert weighted.settings()["style_layers"] == layer_weights


def test_output_equal_to_targets_has_zero_loss():
    loss = make_loss()
    style = torch.rand(1, 3, 32, 32)
    loss.set_style_targets([style])
    terms = loss(style, style, torch.ones(1, 1))
    assert terms["content"] == 0 and terms["style"] < 1e-10


def test_loss_and_gradient_do_not_depend_on_the_vgg_activation_scale(monkeypatch):
    """Caffe-scale VGG weights give activations far larger than torchvision's: the same loss weights
    must work for both. Multiplying every VGG feature by a constant changes neither loss nor gradient."""
    output = torch.rand(2, 3, 32, 32)
    content = torch.rand(2, 3, 32, 32)
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    results = []
    for scale in (1.0, 250.0):
        loss = make_loss(tv_weight=0.5)
        forward = loss.vgg.forward
        monkeypatch.setattr(
            loss.vgg, "forward", lambda x, layers=None, f=forward, k=scale: {n: k * v for n, v in f(x, layers).items()}
        )
        loss.set_style_targets([torch.rand(3, 40, 48, generator=torch.Generator().manual_seed(1)),
                                 torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(2))])
        image = output.clone().requires_grad_(True)
        total = loss(image, content, weights)["total"]
        total.backward()
        results.append((total.detach(), image.grad))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert torch.allclose(loss_a, loss_b, rtol=1e-4)
    assert torch.allclose(grad_a, grad_b, rtol=1e-3, atol=1e-9)
