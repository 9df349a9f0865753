"""ViT-B/16 through timm (12 layers, width 768, 12 heads, MLP 3072, pre-norm), fine-tuned from a
pretrained checkpoint (Section 4 of the paper).

- `cfg.pretrained`: a local checkpoint file (timm/PyTorch state dict, `.pth`/`.bin`/`.safetensors`,
  optionally under a 'model' or 'state_dict' key). Its classifier is dropped when its class count
  differs from the dataset's, and a fresh head is initialised.
- No file and `THERMOSCOPE_TIMM_HUB=1`: timm's own pretrained loading (needs a reachable hub).
  Without either the ViT starts from timm's random init; the switch is explicit so an offline node
  never hangs on a download.
- `cfg.init` does not apply: the ViT keeps timm's initialisation (or the checkpoint's weights);
  init='torchvision' is refused for it outright (training/config.py: TORCHVISION_INIT_REFUSED), since
  torchvision's own ViT init is not what would run.
- Images are resized to 224 (bilinear) inside the model when they arrive at another size, and
  1-channel images are repeated to 3, so any dataset in the registry can be fed; the ViT input
  pipeline (training/augment.py) already produces 224×224.

Taps: each block's output (the residual stream, (B, 197, 768)), the pooled pre-logits (class
token after the final norm, (B, 768)), the logits. Blocks have no single non-linearity at their
output and their first weight reads LayerNorm(x), not x, so no pre_module/weight_module there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from analysis.taps import LayerTap
from thermoscope import env
from training.config import RunConfig
from training.models.registry import ModelSpec, register_model

TIMM_NAME = "vit_base_patch16_224"
IMAGE_SIZE = 224  # px


def load_pretrained_file(vit: nn.Module, path: str) -> None:
    """Load a local checkpoint into a timm ViT; drop a classifier whose shape does not match."""
    import pickle

    from timm.models import load_state_dict

    from training.safe_load import UnsafeCheckpoint, refusal

    try:
        state = load_state_dict(path, weights_only=True)  # a pickled object in the file never runs
    except pickle.UnpicklingError:
        raise UnsafeCheckpoint(refusal(path)) from None
    except Exception as exc:  # one line: what was wrong, what to do
        raise RuntimeError(f"cannot read pretrained checkpoint {path!r} ({exc}); give a timm/PyTorch state-dict file") from None
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("vit."): v for k, v in state.items()}
    own = vit.state_dict()
    head = {k for k in state if k.startswith("head.") and (k not in own or state[k].shape != own[k].shape)}
    state = {k: v for k, v in state.items() if k not in head}
    missing, unexpected = vit.load_state_dict(state, strict=False)
    wrong = [k for k in missing if not k.startswith("head.")] + list(unexpected)
    if wrong:
        raise RuntimeError(f"pretrained checkpoint {path!r} is not a ViT-B/16 state dict (e.g. {wrong[:3]}); "
                           f"give a {TIMM_NAME} checkpoint")


class ViTB16(nn.Module):
    loads_pretrained = True  # build_model leaves init and cfg.pretrained to this class

    def __init__(self, num_classes: int, pretrained: str = "") -> None:
        super().__init__()
        import timm

        hub = not pretrained and env.TIMM_HUB.get()
        self.vit = timm.create_model(TIMM_NAME, pretrained=hub, num_classes=num_classes)
        if pretrained:
            load_pretrained_file(self.vit, pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        return self.vit(x)

    def layer_taps(self) -> list[LayerTap]:
        taps = [LayerTap(f"block{i + 1}", blk) for i, blk in enumerate(self.vit.blocks)]
        taps.append(LayerTap("pre_logits", self.vit.head_drop))
        taps.append(LayerTap("logits", self.vit.head, "logits", weight_module=self.vit.head))
        return taps


@register_model("vit_b16")
def vit_b16(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return ViTB16(spec.num_classes, cfg.pretrained)
