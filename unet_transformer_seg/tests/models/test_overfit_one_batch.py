"""Overfit one batch: a tiny U-Net and a tiny hybrid drive CE + Dice near 0 on two random-shape masks."""

import pytest
import torch

from src.losses import build_loss
from src.metrics import SegMetrics
from src.models import build_model
from src.utils.config import LossConfig, ModelConfig, TransformerConfig

K, SIZE = 3, 16


@pytest.fixture
def one_thread():
    """Tiny convs run ~10x faster on one thread when the CPU is shared (no cross-thread spin-waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _one_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two images whose pixels' colours encode a random rectangle (class 1) and disc (class 2), plus noise."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    masks = torch.zeros(2, SIZE, SIZE, dtype=torch.long)
    for b in range(2):
        y0, x0 = torch.randint(0, SIZE // 2, (2,), generator=g).tolist()
        h, w = torch.randint(3, SIZE // 2, (2,), generator=g).tolist()
        masks[b, y0 : y0 + h, x0 : x0 + w] = 1
        cy, cx = torch.randint(4, SIZE - 4, (2,), generator=g).tolist()
        r = torch.randint(2, 5, (1,), generator=g).item()
        masks[b][(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2  # the disc occludes the rectangle
    colours = torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]])  # (K, 3)
    images = colours[masks].permute(0, 3, 1, 2)  # (2, 3, H, W)
    images = images + 0.1 * torch.randn(images.shape, generator=g)
    return images, masks


@pytest.mark.parametrize("name", ["unet", "unet_transformer"])
def test_overfit_one_batch(name, one_thread):
    torch.manual_seed(0)
    cfg = ModelConfig(
        name=name, num_classes=K, base_channels=8, depth=2,
        transformer=TransformerConfig(num_layers=1, num_heads=2, embed_dim=16),
    )
    model = build_model(cfg)
    loss_fn = build_loss(LossConfig(name="ce_dice"), num_classes=K, ignore_index=255)
    images, masks = _one_batch()
    assert set(masks.unique().tolist()) == {0, 1, 2}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        out = loss_fn(model(images), masks)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = out["loss"].item() if first is None else first
    assert first > 0.5
    assert out["loss"].item() < 0.05, out
    metrics = SegMetrics(K)
    model.eval()
    with torch.no_grad():
        metrics.update(model(images), masks)
    assert metrics.compute()["mean_dice"] > 0.97
