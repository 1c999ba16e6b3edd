"""Joint transforms keep image and mask aligned.

The image is built *from* the mask (channel 0 = class id), so after any geometric
transform the mask can be read back from the image and compared exactly.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from src.data.transforms import (ColorJitter, Compose, Normalize, RandomFlip, RandomRot90, RandomScaleCrop,
                                 Resize, build_transforms)
from src.utils.config import DataConfig


def mask_and_image(h=40, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(h, w, dtype=torch.long)
    # Blocky regions so that resizing has interiors to check.
    for k in range(1, 4):
        y, x = torch.randint(0, h - 12, (2,), generator=g).tolist()
        mask[y:y + 12, x:x + 10] = k
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")).float()
    image = torch.cat([mask[None].float(), coords])  # (3, H, W): class, row, col
    return image, mask


def interior(mask: torch.Tensor, r: int = 2) -> torch.Tensor:
    """Pixels whose (2r+1)^2 neighbourhood holds one label: bilinear there mixes one class only."""
    m = mask.float()[None, None]
    hi = F.max_pool2d(m, 2 * r + 1, 1, r)
    lo = -F.max_pool2d(-m, 2 * r + 1, 1, r)
    inside = (hi == lo)[0, 0]
    # A crop edge hides the neighbours beyond it, so the border is never "interior".
    inside[:r], inside[-r:], inside[:, :r], inside[:, -r:] = False, False, False, False
    return inside


@pytest.mark.parametrize("t", [RandomFlip(p=1.0), RandomFlip(horizontal=False, p=1.0), RandomRot90(),
                               RandomScaleCrop((1.3, 1.3)), RandomScaleCrop((0.6, 0.6)),
                               Compose([RandomFlip(), RandomRot90()])])
def test_geometric_transforms_keep_alignment(t):
    for seed in range(6):
        image, mask = mask_and_image(seed=seed)
        out_img, out_mask = t(image, mask, np.random.default_rng(seed))
        assert out_img.shape == image.shape and out_mask.shape == mask.shape
        labelled = out_mask != 255
        if isinstance(t, RandomScaleCrop):
            # Bilinear blends across class edges; compare where the labels are locally constant.
            labelled &= interior(out_mask)
            assert torch.allclose(out_img[0][labelled], out_mask[labelled].float(), atol=1e-4)
        else:
            assert torch.equal(out_img[0][labelled].long(), out_mask[labelled])
        assert labelled.float().mean() > 0.05  # the check is not vacuous


def test_flip_and_rot90_are_exact_permutations():
    image, mask = mask_and_image()
    img, m = RandomFlip(vertical=False, p=1.0)(image, mask, np.random.default_rng(0))
    assert torch.equal(m, mask.flip(-1)) and torch.equal(img[2], image[2].flip(-1))
    assert torch.equal(img[2][:, 0], torch.full((40,), 39.0))  # column 39 moved to column 0
    rng = np.random.default_rng(1)
    k = int(np.random.default_rng(1).integers(0, 4))
    img, m = RandomRot90()(image, mask, rng)
    assert torch.equal(m, torch.rot90(mask, k))


def test_resize_bilinear_image_nearest_mask_aligned():
    image, mask = mask_and_image()
    for size in [(80, 80), (30, 30), (37, 50)]:
        img, m = Resize(size)(image, mask, np.random.default_rng(0))
        assert img.shape == (3, *size) and m.shape == size and m.dtype == torch.long
        assert set(m.unique().tolist()) <= set(mask.unique().tolist())  # nearest: no new labels
        inside = interior(m)
        assert inside.float().mean() > 0.05  # the check is not vacuous
        assert torch.allclose(img[0][inside], m[inside].float(), atol=1e-4)


def test_scale_crop_pads_mask_with_ignore():
    image, mask = mask_and_image()
    _, m = RandomScaleCrop((0.5, 0.5), ignore_index=255)(image, mask, np.random.default_rng(0))
    assert (m == 255).sum() == 40 * 40 - 20 * 20


def test_color_jitter_changes_image_only():
    image, mask = torch.rand(3, 8, 8), torch.randint(0, 4, (8, 8))
    img, m = ColorJitter(0.4)(image, mask, np.random.default_rng(0))
    assert torch.equal(m, mask) and not torch.allclose(img, image)
    assert img.min() >= 0 and img.max() <= 1


def test_normalize():
    image = torch.full((3, 2, 2), 0.75)
    img, _ = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(image, torch.zeros(2, 2, dtype=torch.long), None)
    assert torch.allclose(img, torch.ones_like(img))


def test_build_transforms_train_vs_val():
    cfg = DataConfig(scale_range=(0.8, 1.2), color_jitter=0.2)
    train = build_transforms(cfg, train=True)
    val = build_transforms(cfg, train=False, resize_to=32)
    assert [type(t).__name__ for t in train.transforms] == [
        "RandomFlip", "RandomRot90", "RandomScaleCrop", "ColorJitter", "Normalize"]
    assert [type(t).__name__ for t in val.transforms] == ["Resize", "Normalize"]
    # Same rng seed -> same augmentation.
    image, mask = mask_and_image()
    a = train(image / 40, mask, np.random.default_rng(3))
    b = train(image / 40, mask, np.random.default_rng(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("size", [(30, 30), (80, 64), (37, 50)])
def test_resize_mask_picks_the_pixel_under_the_image_sample_point(size):
    """Bilinear resampling of a coordinate ramp returns each output pixel's source
    position; the resized mask (here: the source column/row index) must come from the
    source pixel nearest to that position, i.e. image and mask use the same pixel grid."""
    h, w = 40, 40
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    image = torch.stack([rows, cols, rows]).float()  # (3, H, W)
    for mask, channel in ((cols, 1), (rows, 0)):
        img, m = Resize(size)(image, mask.clone(), np.random.default_rng(0))
        assert (m.float() - img[channel]).abs().max() <= 0.5 + 1e-4


def test_downscaling_is_antialiased_and_masks_stay_nearest():
    from src.data.transforms import resize_pair
    image = torch.zeros(3, 64, 64)
    image[:, :, ::8] = 1.0  # one bright column in every 8: mean 1/8
    mask = torch.zeros(64, 64, dtype=torch.long)
    mask[:, ::8] = 3
    small, small_mask = resize_pair(image, mask, (8, 8))
    # Plain bilinear reads columns 3 and 4 of each block of 8 and returns 0 everywhere.
    assert small.mean().item() == pytest.approx(1 / 8, abs=0.01)
    assert small.min().item() > 0.05  # every output pixel saw its bright column
    assert set(small_mask.unique().tolist()) <= {0, 3}  # nearest: no invented class ids
