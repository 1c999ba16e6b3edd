"""Dataset recipes: fixture trees in each dataset's native layout, made here with tiny images.

Each recipe is checked for what it writes (layout, mask values, splits), what it skips
(with the reason) and, end to end, prepare -> train a few steps with the dataset's own
config (shrunk) -> eval on the prepared held-out split.
"""

import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src.data.folder import FolderDataset
from src.data.recipes import RECIPES, RecipeError
from src.data.recipes.carvana import car_id
from src.data.recipes.pets import trimap_to_mask

H, W = 24, 32  # fixture images: small and not square


def voc_palette() -> list[int]:
    """The VOC colour map (bit-interleaved class index), as in the devkit's labelcolormap."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _rgb(rng, h=H, w=W):
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def _objects(i, k):
    """(H, W) class ids: a block of class 1 + i % (k - 1) on background, varying by i."""
    m = np.zeros((H, W), np.uint8)
    m[2 + i % 4:14 + i % 4, 3:20] = 1 + i % (k - 1)
    return m


def make_voc(root, rng):
    """VOCdevkit/VOC2012 with 3 train ids, 2 val ids and three broken entries."""
    voc = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / d).mkdir(parents=True)
    ids = {"train": ["2007_000032", "2007_000039", "2008_000002", "2008_000003"],
           "val": ["2007_000033", "2009_000001", "2010_000005"]}
    for split, names in ids.items():
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    for i, id_ in enumerate(ids["train"] + ids["val"]):
        Image.fromarray(_rgb(rng)).save(voc / "JPEGImages" / f"{id_}.jpg")
        m = _objects(i, 3) * 7  # classes 7 (car) or 14 (motorbike)
        m[1, :] = 255  # a void boundary line
        mask = Image.fromarray(m, mode="P")
        mask.putpalette(voc_palette())
        mask.save(voc / "SegmentationClass" / f"{id_}.png")
    (voc / "SegmentationClass" / "2008_000003.png").unlink()  # listed, but no mask
    bad = np.zeros((H, W), np.uint8)
    bad[0, 0] = 30  # not a VOC class
    bad_im = Image.fromarray(bad, mode="P")
    bad_im.putpalette(voc_palette())  # without a full palette PIL would renumber the indices on save
    bad_im.save(voc / "SegmentationClass" / "2009_000001.png")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(voc / "SegmentationClass" / "2010_000005.png")  # RGB
    return root


def make_pets(root, rng, lists=True):
    """images/ + annotations/trimaps/ (+ trainval.txt/test.txt), one image without a trimap and
    one PNG saved under a .jpg name (as a few real Pets files are)."""
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    names = [f"{breed}_{n}" for breed in ("Abyssinian", "beagle") for n in (1, 2, 3)]
    for i, name in enumerate(names):
        Image.fromarray(_rgb(rng)).save(root / "images" / f"{name}.jpg", format="PNG" if i == 1 else "JPEG")
        tri = np.full((H, W), 2, np.uint8)  # background
        tri[4:18, 6:24] = 3  # border ring ...
        tri[6:16, 8:22] = 1  # ... around the pet
        if name != "beagle_3":
            Image.fromarray(tri).save(root / "annotations" / "trimaps" / f"{name}.png")
    if lists:
        header = "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n"
        (root / "annotations" / "trainval.txt").write_text(
            header + "".join(f"{n} 1 1 1\n" for n in names[:2] + names[3:5]))
        (root / "annotations" / "test.txt").write_text(header + f"{names[2]} 1 1 1\n{names[5]} 2 2 1\n")
    return root


def make_dsb(root, rng):
    """stage1_train/<id>/{images/<id>.png (RGBA), masks/*.png} for 5 ids; one has no masks."""
    base = root / "stage1_train"
    ids = [f"{i:02x}" * 8 for i in range(5)]
    for i, id_ in enumerate(ids):
        (base / id_ / "images").mkdir(parents=True)
        rgba = np.concatenate([_rgb(rng), np.full((H, W, 1), 255, np.uint8)], -1)
        Image.fromarray(rgba, mode="RGBA").save(base / id_ / "images" / f"{id_}.png")
        if i == 4:
            continue  # unlabelled
        (base / id_ / "masks").mkdir()
        for k in range(3):  # three nuclei, the last two overlapping
            inst = np.zeros((H, W), np.uint8)
            inst[2 + 6 * k:8 + 6 * k, 2 + 5 * k + i:10 + 5 * k + i] = 255
            Image.fromarray(inst).save(base / id_ / "masks" / f"{id_[:6]}{k}.png")
    return root, ids


def make_carvana(root, rng):
    """train/<car>_<view>.jpg + train_masks/<car>_<view>_mask.gif (0/1 P-mode) for 4 cars x 2 views."""
    (root / "train").mkdir(parents=True)
    (root / "train_masks").mkdir()
    for c in range(4):
        for view in (1, 2):
            stem = f"{c:03d}abc{c}ef12_{view:02d}"
            Image.fromarray(_rgb(rng)).save(root / "train" / f"{stem}.jpg")
            m = np.zeros((H, W), np.uint8)
            m[5:20, 4 + c:28] = 1
            gif = Image.fromarray(m, mode="P")
            gif.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
            if stem != "003abc3ef12_02":
                gif.save(root / "train_masks" / f"{stem}_mask.gif")
    return root


def _values(folder):
    return sorted(set(np.unique(np.concatenate([np.asarray(Image.open(p)).ravel()
                                                for p in sorted((folder / "masks").iterdir())])).tolist()))


def test_voc_copies_palette_masks_keeps_void_and_skips_bad_ids(tmp_path):
    src = make_voc(tmp_path / "src", np.random.default_rng(0))
    report = RECIPES["voc"](src, tmp_path / "voc", progress=False)
    assert dict(report.written) == {"train": 3, "val": 1}
    reasons = dict(report.skipped)
    assert "SegmentationClass/2008_000003.png is missing" in reasons["2008_000003"]
    assert "[30]" in reasons["2009_000001"] and "mode RGB" in reasons["2010_000005"]
    mask = Image.open(tmp_path / "voc" / "train" / "masks" / "2007_000032.png")
    assert mask.mode == "P" and mask.getpalette()[:9] == voc_palette()[:9]
    assert _values(tmp_path / "voc" / "train") == [0, 7, 14, 255]
    ds = FolderDataset(tmp_path / "voc" / "train", num_classes=21, mask_format="palette")
    assert len(ds) == 3 and int(ds[0][1].max()) == 255  # void reaches the loss as ignore_index
    assert "2008_000003" in report.summary() and "skipped 3" in report.summary()


def test_voc_wrong_src_names_what_is_missing(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(RecipeError, match="ImageSets/Segmentation"):
        RECIPES["voc"](tmp_path, tmp_path / "out", progress=False)


def test_trimap_mapping():
    tri = np.array([[1, 2, 3]], np.uint8)
    assert trimap_to_mask(tri).tolist() == [[1, 0, 255]]
    assert trimap_to_mask(tri, "pet").tolist() == [[1, 0, 1]]


def test_pets_splits_trimaps_and_reencodes_disguised_png(tmp_path):
    src = make_pets(tmp_path / "src", np.random.default_rng(0))
    report = RECIPES["pets"](src, tmp_path / "pets", progress=False)
    assert dict(report.written) == {"trainval": 4, "test": 1}
    assert "trimap" in dict(report.skipped)["beagle_3"]
    assert [c[0] for c in report.converted] == ["Abyssinian_2.jpg"]
    assert (tmp_path / "pets" / "trainval" / "images" / "Abyssinian_2.png").is_file()
    assert (tmp_path / "pets" / "trainval" / "images" / "Abyssinian_1.jpg").read_bytes() == \
        (src / "images" / "Abyssinian_1.jpg").read_bytes()  # plain JPEGs are copied, not re-encoded
    assert _values(tmp_path / "pets" / "trainval") == [0, 1, 255]
    mask = np.asarray(Image.open(tmp_path / "pets" / "test" / "masks" / "Abyssinian_3.png"))
    assert mask[10, 10] == 1 and mask[5, 7] == 255 and mask[0, 0] == 0


def test_pets_without_lists_writes_all(tmp_path):
    src = make_pets(tmp_path / "src", np.random.default_rng(0), lists=False)
    report = RECIPES["pets"](src, tmp_path / "pets", progress=False)
    assert dict(report.written) == {"all": 5} and "data.val_fraction" in report.summary()


def test_dsb_merges_instances_into_one_binary_mask(tmp_path):
    src, ids = make_dsb(tmp_path / "src", np.random.default_rng(0))
    report = RECIPES["dsb2018"](src, tmp_path / "dsb", progress=False, test_fraction=0.25, seed=0)
    assert report.written["train"] + report.written["test"] == 4 and report.written["test"] == 1
    assert "no masks" in dict(report.skipped)[ids[4]]
    split = "train" if (tmp_path / "dsb" / "train" / "masks" / f"{ids[0]}.png").is_file() else "test"
    mask = np.asarray(Image.open(tmp_path / "dsb" / split / "masks" / f"{ids[0]}.png"))
    expected = np.zeros((H, W), bool)
    for d in src.glob(f"stage1_train/{ids[0]}/masks/*.png"):
        expected |= np.asarray(Image.open(d)) > 0
    assert set(np.unique(mask).tolist()) == {0, 255} and np.array_equal(mask == 255, expected)
    image = Image.open(tmp_path / "dsb" / split / "images" / f"{ids[0]}.png")
    assert image.mode == "RGB" and "opaque RGBA" in report.summary()


def test_carvana_holds_out_whole_cars_and_converts_gif_masks(tmp_path):
    src = make_carvana(tmp_path / "src", np.random.default_rng(0))
    report = RECIPES["carvana"](src, tmp_path / "car", progress=False, test_fraction=0.25, seed=1)
    assert report.written["train"] + report.written["test"] == 7
    assert "no train_masks" in dict(report.skipped)["003abc3ef12_02"]
    train_cars = {car_id(p.stem) for p in (tmp_path / "car" / "train" / "images").iterdir()}
    test_cars = {car_id(p.stem) for p in (tmp_path / "car" / "test" / "images").iterdir()}
    assert len(test_cars) == 1 and not train_cars & test_cars
    assert _values(tmp_path / "car" / "train") == [0, 255]


def test_prepare_data_cli_reports_and_fails_clearly(tmp_path, capsys):
    # The script's main() in-process (a subprocess would spend seconds importing torch).
    script = Path(__file__).resolve().parents[2] / "scripts" / "prepare_data.py"
    main = runpy.run_path(str(script), run_name="prepare_data")["main"]
    src = make_carvana(tmp_path / "src", np.random.default_rng(0))
    assert main(["--dataset", "carvana", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "carvana: wrote" in out and "1 x no train_masks" in out
    assert main(["--dataset", "voc", "--src", str(src), "--out", str(tmp_path / "out2")]) == 1
    assert "not a VOC2012 folder" in capsys.readouterr().err


PROJECT = Path(__file__).resolve().parents[2]
# Shrink any dataset config to a few seconds on the CPU: the data settings (mask format, classes,
# flips) stay those of the dataset's config, which is what this test checks.
SHRINK = ["model.base_channels=4", "model.depth=2", "model.transformer.num_layers=1", "model.transformer.num_heads=2",
          "model.transformer.embed_dim=16", "data.image_size=32", "data.num_workers=0", "training.batch_size=1",
          "training.num_epochs=1", "training.max_steps=2", "training.warmup_steps=1", "training.num_vis=2",
          "training.device=cpu", "training.amp=false"]  # bf16 buys nothing at this size
# dataset -> (fixture maker, prepare options, train split, val split or None, held-out split for eval)
E2E = {
    "voc": (make_voc, {}, "train", "val", "val"),
    "pets": (make_pets, {}, "trainval", None, "test"),
    "dsb2018": (lambda root, rng: make_dsb(root, rng)[0], {"test_fraction": 0.25}, "train", None, "test"),
    "carvana": (make_carvana, {"test_fraction": 0.25}, "train", None, "test"),
}


@pytest.mark.parametrize("dataset", sorted(E2E))
def test_prepare_train_eval_with_the_dataset_config(tmp_path, dataset):
    from src.training.eval_report import evaluate_checkpoint
    from src.training.trainer import train
    from src.utils.config import load_config
    from src.utils.logging import make_run_dir

    make, options, train_split, val_split, test_split = E2E[dataset]
    src = make(tmp_path / "src", np.random.default_rng(0))
    out = tmp_path / dataset
    RECIPES[dataset](src, out, progress=False, **options)
    data = [f"data.root={out / train_split}"]
    data += [f"data.val_root={out / val_split}"] if val_split else ["data.val_fraction=0.34"]
    cfg = load_config(PROJECT / "configs" / f"{dataset}.yaml", SHRINK + data)
    result = train(cfg, make_run_dir(None, dataset, runs_root=tmp_path / "runs"), console=False)
    assert result["status"] == "finished" and result["step"] == 2
    results = evaluate_checkpoint(result["best_path"], data_dir=out / test_split, device="cpu")
    assert results["num_images"] == len(list((out / test_split / "masks").iterdir())) >= 1
    assert list(results["per_class"]) == list(cfg.data.class_names)
    assert 0.0 <= results["pixel_accuracy"] <= 1.0
