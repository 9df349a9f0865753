"""Model registry. Every model is an `nn.Module` with `layer_taps() -> list[LayerTap]`.

`build_model(cfg, ModelSpec(num_classes, input_shape))` builds the configured architecture with its
initialisation; importing this package registers every architecture module below (one file and
one `@register_model` each: mlp, vgg19/vgg19_bn, resnet18/20/34/50, vit_b16).
"""

from __future__ import annotations

from training.models import mlp, resnet, vgg, vit  # noqa: F401,E402  (registers by import)
from training.models.registry import MODELS, ModelSpec, build_model, register_model

__all__ = ["MODELS", "ModelSpec", "build_model", "register_model"]
