"""The fixed quality yardstick against constructed networks whose answers are known."""

import pytest
import torch

from nst_ff.measure.quality import Yardstick, format_quality, measure

NAMES = ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def paintings():
    torch.manual_seed(0)
    # Three clearly different "paintings": a colour each plus its own texture frequency.
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 40), indexing="ij")
    images = []
    for i, colour in enumerate([(0.9, 0.2, 0.1), (0.1, 0.3, 0.9), (0.2, 0.8, 0.3)]):
        stripes = 0.5 + 0.5 * torch.sin(2 * torch.pi * (3 + 5 * i) * (xx + i * yy))
        images.append(torch.tensor(colour)[:, None, None] * (0.5 + 0.5 * stripes))
    return torch.stack(images)  # [3, 3, 40, 40]


@pytest.fixture(scope="module")
def yardstick(paintings):
    torch.manual_seed(0)
    return Yardstick(list(paintings), vgg_weights="random")


@pytest.fixture(scope="module")
def photos():
    torch.manual_seed(1)
    return torch.rand(2, 3, 40, 40)


def test_a_network_returning_the_painting_identifies_every_style_with_full_gain(yardstick, paintings, photos):
    report = measure(lambda x, w: paintings[w.argmax(1)], yardstick, photos, NAMES)
    assert report["overall"]["identified"] == 1.0
    assert report["overall"]["style_gain"] == pytest.approx(1.0, abs=1e-5)
    assert report["chance"] == pytest.approx(1 / 3)
    assert all(scores["nearest"] == [name, name] for name, scores in report["styles"].items())


def test_a_network_returning_the_photo_has_no_gain_and_no_content_error(yardstick, photos):
    report = measure(lambda x, w: x, yardstick, photos, NAMES)
    assert report["overall"]["style_gain"] == pytest.approx(0.0, abs=1e-6)
    assert report["overall"]["content"] == pytest.approx(0.0, abs=1e-6)
    # Whatever painting the photos are nearest to, every style gets the same answer: one style in three.
    assert report["overall"]["identified"] == pytest.approx(1 / 3)


def test_a_network_painting_the_wrong_styles_is_never_identified(yardstick, paintings, photos):
    shifted = [1, 2, 0]
    report = measure(lambda x, w: paintings[[shifted[i] for i in w.argmax(1)]], yardstick, photos, NAMES)
    assert report["overall"]["identified"] == 0.0
    assert report["styles"]["alpha"]["nearest"] == ["beta", "beta"]
    assert report["overall"]["style_gain"] < 0.5


def test_a_mostly_alpha_blend_is_nearest_to_alpha(yardstick, paintings, photos):
    blend = 0.8 * paintings[0] + 0.2 * paintings[1]
    report = measure(lambda x, w: blend.expand(len(x), -1, -1, -1), yardstick, photos, NAMES)
    assert report["styles"]["alpha"]["identified"] == 1.0
    assert report["styles"]["beta"]["identified"] == 0.0
    assert report["styles"]["beta"]["nearest"] == ["alpha", "alpha"]


def test_a_network_with_more_styles_than_paintings_is_scored_on_the_painted_ones(yardstick, paintings, photos):
    network_styles = ["alpha", "extra", "beta", "gamma"]
    by_column = {0: 0, 2: 1, 3: 2}
    report = measure(lambda x, w: paintings[[by_column[i] for i in w.argmax(1).tolist()]],
                     yardstick, photos, NAMES, network_styles)
    assert report["overall"]["identified"] == 1.0
    table = format_quality(report)
    assert "overall" in table and "100%" in table and "chance 33%" in table


def test_photo_names_give_each_photos_scores_over_the_styles(yardstick, paintings, photos):
    # the first photo painted as its style's painting, the second left as it is
    def paint(x, w):
        return torch.stack([paintings[w[0].argmax()], x[1]])

    report = measure(paint, yardstick, photos, NAMES, photo_names=["painted.jpg", "left.jpg"])
    painted, left = report["photos"]["painted.jpg"], report["photos"]["left.jpg"]
    assert painted["identified"] == 1.0 and painted["style_gain"] == pytest.approx(1.0, abs=1e-5)
    assert left["style_gain"] == pytest.approx(0.0, abs=1e-6) and left["content"] == pytest.approx(0.0, abs=1e-6)
    # each photo's scores are means over the styles, so theirs average to the overall ones
    for metric in ("identified", "style_gain", "content"):
        assert (painted[metric] + left[metric]) / 2 == pytest.approx(report["overall"][metric], abs=1e-6)
    table = format_quality(report)
    assert "painted.jpg" in table.splitlines()[-2] and "left.jpg" in table.splitlines()[-1]
    assert "photos" not in measure(paint, yardstick, photos, NAMES)


@pytest.mark.parametrize("names", [["one.jpg"], ["one.jpg", "two.jpg", "three.jpg"], ["one.jpg", "one.jpg"]])
def test_photo_names_that_do_not_name_each_photo_once_are_refused(yardstick, photos, names):
    with pytest.raises(ValueError, match="names for 2 photos"):
        measure(lambda x, w: x, yardstick, photos, NAMES, photo_names=names)
