"""VGG-19 (16 conv + 3 FC; channels 64-128-256-512-512), with and without BatchNorm.

The head is sized by the input: for small images (CIFAR, 32×32 → a 1×1×512 map after five pools)
FC1 and FC2 are 512 wide, as in the CIFAR VGGs the paper follows; torchvision's 25,088→4,096 head
would be 140 M parameters on a 1×1 map (docs/testing.md). For large images (≥ 128 px) it is the
ImageNet head: 7×7 adaptive pool, FC 25,088→4,096→4,096. Max-pools use ceil_mode so tiny inputs
(the embedded 8×8 digits) keep a 1×1 map instead of failing; for even sizes this changes nothing.
No dropout: the appendix does not use it and it would make representations depend on RNG.
"""

from __future__ import annotations

from torch import nn

from analysis.taps import LayerTap
from training.config import RunConfig
from training.models.registry import ModelSpec, register_model

# 'M' = 2×2 max-pool. 16 convolutions.
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
LARGE_INPUT = 128  # px: from this size on, the ImageNet head


class ConvUnit(nn.Module):
    """Conv3×3 (+ BN) + ReLU; separate modules so each has its own hook."""

    def __init__(self, cin: int, cout: int, batchnorm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm)
        self.norm = nn.BatchNorm2d(cout) if batchnorm else nn.Identity()
        self.act = nn.ReLU()  # never inplace: a hook on norm/conv output must keep its value

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class VGG(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, image_size: int, batchnorm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        self.units: list[ConvUnit] = []
        cin = in_channels
        for item in VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                unit = ConvUnit(cin, int(item), batchnorm)
                layers.append(unit)
                self.units.append(unit)
                cin = int(item)
        self.features = nn.Sequential(*layers)
        large = image_size >= LARGE_INPUT
        self.pool = nn.AdaptiveAvgPool2d(7 if large else 1)
        hidden = 4096 if large else 512
        self.fc1 = nn.Linear(512 * (49 if large else 1), hidden)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden, hidden)
        self.act2 = nn.ReLU()
        self.head = nn.Linear(hidden, num_classes)

    def torchvision_init(self) -> None:
        """init='torchvision': what torchvision.models.VGG.__init__ does (init_weights=True, torchvision
        0.29): Conv2d Kaiming-normal, mode fan_out, ReLU gain, bias 0; BatchNorm2d weight 1, bias 0;
        Linear N(0, 0.01²), bias 0 — the classifier too, whichever head size this input got."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.act2(self.fc2(self.act1(self.fc1(x)))))

    def layer_taps(self) -> list[LayerTap]:
        """16 conv taps (B, C, H, W), FC1 and FC2 taps (B, hidden), logits (B, classes)."""
        taps = [LayerTap(f"conv{i + 1}", u.act, "hidden",
                         pre_module=u.norm if isinstance(u.norm, nn.BatchNorm2d) else u.conv, weight_module=u.conv)
                for i, u in enumerate(self.units)]
        taps += [LayerTap("fc1", self.act1, "hidden", pre_module=self.fc1, weight_module=self.fc1),
                 LayerTap("fc2", self.act2, "hidden", pre_module=self.fc2, weight_module=self.fc2),
                 LayerTap("logits", self.head, "logits", weight_module=self.head)]
        return taps


@register_model("vgg19")
def vgg19(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return VGG(spec.input_shape[0], spec.num_classes, spec.input_shape[1], batchnorm=False)


@register_model("vgg19_bn")
def vgg19_bn(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return VGG(spec.input_shape[0], spec.num_classes, spec.input_shape[1], batchnorm=True)
