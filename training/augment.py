"""Train-time augmentations exactly as the paper's appendix, on the device for in-memory data.

| name | train | test |
| --- | --- | --- |
| `cifar` | random crop 32 (zero pad 4) + horizontal flip, per sample; dataset's mean/std | normalise |
| `crop` | the same without the flip (SVHN: a mirrored digit is another glyph) | normalise |
| `imagenet` | timm: random-resized-crop 224, scale (0.08, 1), ratio (3/4, 4/3), flip, colour jitter 0.4 brightness/contrast/saturation, no hue | resize 256, centre crop 224 |
| `vit` | random-resized-crop 224, scale (0.05, 1), ratio (3/4, 4/3), flip; mean = std = 0.5 | resize 224; mean = std = 0.5 |
| `none` | nothing (the embedded pair is stored normalised) | nothing |

The device versions (for in-memory data; `imagenet` on the device applies its colour jitter in a
fixed order, torchvision permutes it) draw every crop and flip per sample from a `torch.Generator` on the device
(torchvision's v2 transforms on a batched tensor would use one crop for the whole batch,
docs/testing.md). The CPU versions (torchvision/timm) serve streamed folders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training.registry import Registry

VIT_SIZE = 224  # px
VIT_MEAN = VIT_STD = (0.5, 0.5, 0.5)
RRC_RATIO = (3 / 4, 4 / 3)  # aspect ratio range of random-resized-crop


# ---- device ops (per sample, batched) ---------------------------------------------------------------

def random_crop_flip(x: torch.Tensor, pad: int, flip: bool, gen: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample random crop of the input size from the zero-padded image, and a random horizontal flip.

    x: (B, C, H, W) any dtype (uint8 for raw data: zero padding = black, as torchvision pads PIL images).
    Returns (B, C, H, W), same dtype, in channels_last memory layout (what the fast path feeds the model).
    """
    b, _, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=gen)
    rows = oy[:, None] + torch.arange(h, device=dev)
    cols = ox[:, None] + torch.arange(w, device=dev)
    if flip:
        flipped = torch.rand(b, device=dev, generator=gen) < 0.5
        cols = torch.where(flipped[:, None], cols.flip(1), cols)
    # advanced indexing around the channel slice gives (B, H, W, C); the permute is a free view
    out = padded[torch.arange(b, device=dev)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def random_resized_crop(x: torch.Tensor, size: int, scale: tuple[float, float], ratio: tuple[float, float] = RRC_RATIO,
                        flip: bool = True, gen: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample random-resized-crop to size × size (bilinear), with a random horizontal flip.

    x: (B, C, H, W) float. Area fraction ~ U(scale), log aspect ratio ~ U(log ratio); a crop that
    would not fit is clipped to the image (torchvision retries and then falls back to a centre crop).
    """
    b = x.shape[0]
    dev = x.device
    area = torch.empty(b, device=dev).uniform_(*scale, generator=gen)
    log_r = torch.empty(b, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    r = log_r.exp()
    cw = (area * r).sqrt().clamp(max=1.0)  # crop width / image width
    ch = (area / r).sqrt().clamp(max=1.0)
    cx = (torch.rand(b, device=dev, generator=gen) * (1 - cw) + cw / 2) * 2 - 1  # centre in [-1, 1]
    cy = (torch.rand(b, device=dev, generator=gen) * (1 - ch) + ch / 2) * 2 - 1
    sx = cw
    if flip:
        sx = torch.where(torch.rand(b, device=dev, generator=gen) < 0.5, -cw, cw)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, ch, cy
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_jitter(x: torch.Tensor, strength: float = 0.4, gen: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample brightness, contrast and saturation factors ~ U(1 − s, 1 + s), no hue; x float in [0, 1].

    Applied in a fixed order (torchvision permutes the three per call; the factor distributions are
    the same). Grey = ITU-R 601 luma, as torchvision's rgb_to_grayscale.
    """
    b = x.shape[0]
    f = torch.empty(3, b, 1, 1, 1, device=x.device).uniform_(1 - strength, 1 + strength, generator=gen)
    luma = torch.tensor((0.299, 0.587, 0.114), device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    x = (x * f[0]).clamp(0, 1)
    grey_mean = (x * luma).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    x = ((x - grey_mean) * f[1] + grey_mean).clamp(0, 1)
    grey = (x * luma).sum(1, keepdim=True)
    return ((x - grey) * f[2] + grey).clamp(0, 1)


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 or [0, 1] float → (x − mean) / std, per channel."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


# ---- the registry --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Augmentation:
    """How stored images become model input, on the device (`train`/`test`) and on the CPU (`cpu`)."""

    name: str
    # (x raw batch, mean, std, generator) -> normalised float batch; test has no generator
    train: Callable[..., torch.Tensor]
    test: Callable[..., torch.Tensor]
    cpu: Callable[[object, str], Callable]  # (bundle, split) -> a torchvision transform for PIL images
    size: int | None = None  # output side in px (None: the stored size)
    mean: tuple[float, ...] | None = None  # overrides the dataset's statistics (ViT: 0.5)
    std: tuple[float, ...] | None = None
    # `test` without its final bilinear resize, for a recipe whose model resizes its input itself with the same
    # interpolation (the ViT): the analysis then holds stored-size inputs (32 px instead of 224: 49x less memory,
    # 0.5 GB instead of 24 GB for four 10,000-image splits). Per-channel normalisation commutes with bilinear
    # interpolation, so the model sees the same input up to float rounding (tests/training/test_data.py).
    test_stored: Callable[..., torch.Tensor] | None = None

    def stats(self, bundle) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (self.mean or bundle.mean, self.std or bundle.std)

    def input_shape(self, bundle) -> tuple[int, int, int]:
        c, h, w = bundle.input_shape
        return (c, self.size, self.size) if self.size else (c, h, w)


AUGMENTATIONS: Registry = Registry("augmentation")


def _register(aug: Augmentation) -> Augmentation:
    AUGMENTATIONS.register(aug.name)(aug)
    return aug


def _tv_small(bundle, split: str, flip: bool):
    import torchvision.transforms as T

    side = bundle.input_shape[1]
    steps = [T.RandomCrop(side, padding=4)] + ([T.RandomHorizontalFlip()] if flip else []) if split == "train" else []
    return T.Compose([T.Resize((side, side)), *steps, T.ToTensor(), T.Normalize(bundle.mean, bundle.std)])


def _timm(bundle, split: str, **kw):
    from timm.data import create_transform

    return create_transform(bundle.input_shape[1], is_training=split == "train", **kw)


_register(Augmentation(
    "none", train=lambda x, mean, std, gen=None: x.float(), test=lambda x, mean, std: x.float(),
    cpu=lambda bundle, split: _tv_small(bundle, "test", False)))
_register(Augmentation(
    "cifar", train=lambda x, mean, std, gen=None: normalise(random_crop_flip(x, 4, True, gen), mean, std),
    test=normalise, cpu=lambda bundle, split: _tv_small(bundle, split, True)))
_register(Augmentation(
    "crop", train=lambda x, mean, std, gen=None: normalise(random_crop_flip(x, 4, False, gen), mean, std),
    test=normalise, cpu=lambda bundle, split: _tv_small(bundle, split, False)))
_register(Augmentation(
    "imagenet",
    train=lambda x, mean, std, gen=None: normalise(colour_jitter(random_resized_crop(
        normalise(x, (0,) * 3, (1,) * 3), 224, (0.08, 1.0), gen=gen), 0.4, gen), mean, std),
    test=lambda x, mean, std: normalise(F.interpolate(normalise(x, (0,) * 3, (1,) * 3), size=(224, 224),
                                                      mode="bilinear", align_corners=False), mean, std),
    cpu=lambda bundle, split: _timm(bundle, split, scale=(0.08, 1.0), ratio=RRC_RATIO, hflip=0.5, color_jitter=0.4,
                                    mean=bundle.mean, std=bundle.std),
    size=224))
_register(Augmentation(
    "vit",
    train=lambda x, mean, std, gen=None: normalise(random_resized_crop(normalise(x, (0,) * 3, (1,) * 3), VIT_SIZE,
                                                                        (0.05, 1.0), gen=gen), mean, std),
    test=lambda x, mean, std: normalise(F.interpolate(normalise(x, (0,) * 3, (1,) * 3), size=(VIT_SIZE, VIT_SIZE),
                                                      mode="bilinear", align_corners=False), mean, std),
    cpu=lambda bundle, split: _timm(bundle, split, scale=(0.05, 1.0), ratio=RRC_RATIO, hflip=0.5, color_jitter=None,
                                    mean=VIT_MEAN, std=VIT_STD),
    size=VIT_SIZE, mean=VIT_MEAN, std=VIT_STD,
    test_stored=normalise))  # vit_b16 (its only user) resizes to 224 in forward, bilinear, align_corners=False

# architectures whose recipe overrides the dataset's augmentation (Section 4: ViT fine-tuning)
ARCH_AUGMENTATION = {"vit_b16": "vit"}


def augmentation_for(arch: str, bundle) -> Augmentation:
    """The dataset's augmentation, or the architecture's recipe; pre-normalised data gets 'none'."""
    if not bundle.raw:
        return AUGMENTATIONS.get("none")  # the embedded pair: stored normalised, models resize if they must
    return AUGMENTATIONS.get(ARCH_AUGMENTATION.get(arch, bundle.augment))


def cpu_transform(bundle, split: str, arch: str = "") -> Callable:
    return augmentation_for(arch, bundle).cpu(bundle, split)
