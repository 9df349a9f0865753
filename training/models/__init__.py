"""Model registry. Every model is an `nn.Module` with `layer_taps() -> list[LayerTap]`.

`build_model(cfg, num_classes, input_shape)` builds the configured architecture with its
initialisation; importing this package registers every architecture module below.
"""

from __future__ import annotations

from training.models import mlp, resnet, vgg, vit  # noqa: F401,E402  (registers by import)
from training.models.registry import MODELS, ModelSpec, build_model, register_model

__all__ = ["MODELS", "ModelSpec", "build_model", "register_model"]
