"""Toy shapes: determinism, class coverage, occlusion, sizes."""

import numpy as np
import pytest
import torch

from src.data.toy_shapes import ToyShapesDataset, colourise, render_sample, save_preview


def make(n=16, **kw):
    return ToyShapesDataset(num_samples=n, **kw)


def test_item_shapes_and_dtypes():
    image, mask = make()[3]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert mask.shape == (64, 64) and mask.dtype == torch.int64
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_deterministic_from_seed_split_index():
    a, b = make(seed=7), make(seed=7)
    for i in (0, 5, 11):
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])
    # Item i does not depend on which items were read before it.
    c = make(seed=7)
    assert torch.equal(c[11][0], a[11][0])


def test_splits_and_seeds_differ():
    train, val, other = make(seed=7), make(seed=7, split="val"), make(seed=8)
    assert not torch.equal(train[0][0], val[0][0])
    assert not torch.equal(train[0][0], other[0][0])


def test_all_classes_present_and_in_range():
    ds = make(n=40)
    counts = np.zeros(4, int)
    for i in range(len(ds)):
        m = ds[i][1].numpy()
        assert m.min() >= 0 and m.max() <= 3
        counts += np.bincount(m.ravel(), minlength=4)
    assert (counts > 0).all(), counts
    # The task is not trivial: foreground is a real share of the pixels, not a speck.
    assert 0.05 < counts[1:].sum() / counts.sum() < 0.6


def test_occlusion_later_shape_wins_in_image_and_mask():
    """With no noise and a flat background, every pixel shows the colour of the topmost
    covering shape and the mask holds that shape's class."""
    found_overlap = False
    for seed in range(30):
        rng = np.random.default_rng(seed)
        image, mask, shapes = render_sample(rng, noise_std=0.0, background="flat", min_shapes=3, max_shapes=4)
        covered = np.zeros(mask.shape, bool)
        # Walk from the top shape down; a pixel belongs to the first shape that covers it.
        for s in reversed(shapes):
            top = s["cover"] & ~covered
            assert (mask[top] == s["cls"]).all()
            assert np.allclose(image[top], s["colour"])
            covered |= s["cover"]
        assert (mask[~covered] == 0).all()
        pairs = [(a, b) for i, a in enumerate(shapes) for b in shapes[i + 1:]]
        found_overlap |= any((a["cover"] & b["cover"]).any() for a, b in pairs)
    assert found_overlap, "no overlapping shapes in 30 samples; occlusion was never exercised"


def test_colours_independent_of_class():
    """Each class appears in many different colours (the shape's form is the only cue)."""
    hues = {1: [], 2: [], 3: []}
    for seed in range(60):
        _, _, shapes = render_sample(np.random.default_rng(seed), noise_std=0.0)
        for s in shapes:
            hues[s["cls"]].append(s["colour"])
    for cls, cols in hues.items():
        cols = np.array(cols)
        assert cols.std(0).min() > 0.15, f"class {cls} colours barely vary: {cols.std(0)}"


@pytest.mark.parametrize("background", ["flat", "gradient", "texture"])
def test_size_128_and_backgrounds(background):
    image, mask = make(size=128, background=background)[0]
    assert image.shape == (3, 128, 128) and mask.shape == (128, 128)
    assert (mask > 0).any()


def test_flat_background_is_flat_without_noise():
    image, mask, _ = render_sample(np.random.default_rng(0), background="flat", noise_std=0.0)
    bg = image[mask == 0]
    assert np.allclose(bg, bg[0])


def test_transform_gets_epoch_dependent_rng():
    seen = []
    ds = make(transform=lambda im, m, rng: (im, m) if seen.append(rng.random()) is None else None)
    ds[0]; ds[0]
    ds.set_epoch(1); ds[0]
    assert seen[0] == seen[1] != seen[2]


def test_preview_png(tmp_path):
    from PIL import Image

    out = save_preview(tmp_path / "p.png", n=3)
    assert Image.open(out).size[0] > 3 * 64
    assert colourise(np.array([[0, 1], [255, 3]])).shape == (2, 2, 3)


def test_debug_cli_writes_preview(tmp_path):
    from src.data.toy_shapes import main

    main(["--debug", "--out", str(tmp_path / "prev.png"), "-n", "2", "--size", "128"])
    assert (tmp_path / "prev.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        main([])  # without --debug there is nothing to do
