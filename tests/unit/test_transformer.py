import pytest
import torch

from nst_ff.model.transformer import ConditionalInstanceNorm2d, StyleTransferNetwork, one_hot


@pytest.fixture
def network():
    torch.manual_seed(0)
    net = StyleTransferNetwork(num_styles=3)
    with torch.no_grad():  # distinct per-style tables, so style selection matters
        for module in net.modules():
            if isinstance(module, ConditionalInstanceNorm2d):
                module.gamma.normal_(1.0, 0.3)
                module.beta.normal_(0.0, 0.3)
    return net.eval()


def test_parameter_counts_match_the_paper():
    net = StyleTransferNetwork(num_styles=1)
    style = sum(p.numel() for name, p in net.named_parameters() if name.endswith(("gamma", "beta")))
    shared = sum(p.numel() for p in net.parameters()) - style
    assert shared == 1_674_432  # ~1.67M shared weights
    assert style == 3_206  # ~3.2k per style


@pytest.mark.parametrize("height,width", [(33, 47), (17, 18), (64, 64), (5, 3), (1, 9)])
def test_output_has_input_size_in_unit_range(network, height, width):
    out = network(torch.rand(2, 3, height, width), one_hot(torch.tensor([0, 2]), 3))
    assert out.shape == (2, 3, height, width)
    assert out.min() >= 0 and out.max() <= 1


def test_one_hot_selects_that_styles_parameters(network):
    images = torch.rand(1, 3, 32, 32)
    single = StyleTransferNetwork(num_styles=1).eval()
    state = {k: (v[2:3] if k.endswith(("gamma", "beta")) else v) for k, v in network.state_dict().items()}
    single.load_state_dict(state)
    expected = single(images, torch.ones(1, 1))
    assert torch.allclose(network(images, one_hot(torch.tensor([2]), 3)), expected, atol=1e-6)


def test_one_batch_holds_different_styles(network):
    images = torch.rand(1, 3, 32, 32).expand(3, -1, -1, -1)
    batched = network(images, torch.eye(3))
    for s in range(3):
        assert torch.allclose(batched[s], network(images[:1], torch.eye(3)[s : s + 1])[0], atol=1e-6)
    assert not torch.allclose(batched[0], batched[1], atol=1e-3)


def test_half_half_mix_equals_averaged_gamma_beta(network):
    images = torch.rand(1, 3, 36, 28)
    averaged = StyleTransferNetwork(num_styles=1).eval()
    state = {
        k: (0.5 * (v[0:1] + v[1:2]) if k.endswith(("gamma", "beta")) else v) for k, v in network.state_dict().items()
    }
    averaged.load_state_dict(state)
    mixed = network(images, torch.tensor([[0.5, 0.5, 0.0]]))
    assert torch.allclose(mixed, averaged(images, torch.ones(1, 1)), atol=1e-6)


def test_gradients_reach_shared_weights_and_only_selected_styles(network):
    network.train()
    out = network(torch.rand(2, 3, 32, 32), one_hot(torch.tensor([0, 2]), 3))
    out.mean().backward()
    for name, param in network.named_parameters():
        assert param.grad is not None, name
        if name.endswith(("gamma", "beta")):
            assert param.grad[1].abs().max() == 0, name  # style 1 was not selected
            assert param.grad[[0, 2]].abs().sum() > 0, name
        else:
            assert param.grad.abs().sum() > 0, name


def test_no_transposed_convs_no_conv_bias_and_reflection_padding():
    net = StyleTransferNetwork(num_styles=2)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 16 and all(c.bias is None and c.padding == (0, 0) for c in convs)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in net.modules()) == 16


def test_width_multiplier_slims_the_network():
    full = sum(p.numel() for p in StyleTransferNetwork(2).parameters())
    slim = StyleTransferNetwork(2, alpha=0.5)
    assert slim.contract[0].conv.out_channels == 16
    assert sum(p.numel() for p in slim.parameters()) < full / 3
    assert slim(torch.rand(1, 3, 30, 30), torch.eye(2)[:1]).shape == (1, 3, 30, 30)


def test_wrong_style_weights_shape_is_refused(network):
    with pytest.raises(ValueError, match=r"shape \[batch, 3\]"):
        network(torch.rand(2, 3, 16, 16), torch.ones(2, 2))
