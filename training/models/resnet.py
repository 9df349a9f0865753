"""ResNets: 18/34 (basic blocks), 50 (bottleneck), 20 (the 3-stage CIFAR ResNet, 16-32-64).

Written here rather than taken from torchvision because torchvision's blocks reuse one ReLU module
twice (a hook on it fires twice) and its stem takes 32×32 images down to 1×1. The stem is chosen
by input size: 3×3 conv, no max-pool below 128 px (CIFAR); 7×7 stride-2 conv + 3×3 max-pool from
128 px on (ImageNet). ResNet-20 always has the CIFAR stem and He et al.'s parameter-free
(option A) shortcuts.

Taps: the stem's ReLU, every ReLU inside each block and the block's output ReLU (after the
residual sum), then the global average pool (the penultimate representation the classifier
reads), then the logits. ResNet-18 has 1 + 16 + 1 = 18 hidden taps.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from analysis.taps import LayerTap
from training.config import RunConfig
from training.models.registry import ModelSpec, register_model

LARGE_INPUT = 128  # px: from this size on, the ImageNet stem


class ShortcutA(nn.Module):
    """Option A shortcut: subsample spatially and zero-pad the new channels (no parameters)."""

    def __init__(self, stride: int, extra: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


def projection(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, shortcut_a: bool = False) -> None:
        super().__init__()
        cout = width
        self.conv1 = nn.Conv2d(cin, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act_out = nn.ReLU()
        if stride == 1 and cin == cout:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = ShortcutA(stride, cout - cin) if shortcut_a else projection(cin, cout, stride)

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act_out(out + self.shortcut(x))

    def taps(self, prefix: str) -> list[LayerTap]:
        # the output tap's pre-activation is bn2 (the residual branch before the sum): the sum itself
        # has no module to hook; weight_module is the conv that reads the previous tap's output
        return [LayerTap(f"{prefix}.act1", self.act1, pre_module=self.bn1, weight_module=self.conv1),
                LayerTap(f"{prefix}.out", self.act_out, pre_module=self.bn2, weight_module=self.conv2)]


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, shortcut_a: bool = False) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)  # stride on 3×3 (v1.5)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU()
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.act_out = nn.ReLU()
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else projection(cin, cout, stride)

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.act_out(out + self.shortcut(x))

    def taps(self, prefix: str) -> list[LayerTap]:
        return [LayerTap(f"{prefix}.act1", self.act1, pre_module=self.bn1, weight_module=self.conv1),
                LayerTap(f"{prefix}.act2", self.act2, pre_module=self.bn2, weight_module=self.conv2),
                LayerTap(f"{prefix}.out", self.act_out, pre_module=self.bn3, weight_module=self.conv3)]


class ResNet(nn.Module):
    def __init__(self, block: type, blocks: tuple[int, ...], widths: tuple[int, ...], in_channels: int,
                 num_classes: int, imagenet_stem: bool, shortcut_a: bool = False) -> None:
        super().__init__()
        stem_width = widths[0]
        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_channels, stem_width, 7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_width, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.act1 = nn.ReLU()
        stages = []
        cin = stem_width
        for s, (n, width) in enumerate(zip(blocks, widths)):
            stage = []
            for b in range(n):
                stage.append(block(cin, width, 2 if (b == 0 and s > 0) else 1, shortcut_a))
                cin = width * block.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(cin, num_classes)

    def torchvision_init(self) -> None:
        """init='torchvision': what torchvision.models.ResNet.__init__ does (torchvision 0.29, default
        zero_init_residual=False): Conv2d Kaiming-normal, mode fan_out, ReLU gain (projection shortcuts
        included); BatchNorm2d/GroupNorm weight 1, bias 0; the Linear classifier keeps PyTorch's default
        (the values its constructor drew). Option-A shortcuts (ResNet-20) have no parameters."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for stage in self.stages:
            x = stage(x)
        return self.fc(self.flatten(self.pool(x)))

    def layer_taps(self) -> list[LayerTap]:
        """Stem (B, C, H, W), each block's ReLUs (B, C, H, W), pool (B, features), logits (B, classes)."""
        taps = [LayerTap("stem", self.act1, pre_module=self.bn1, weight_module=self.conv1)]
        for s, stage in enumerate(self.stages):
            for b, blk in enumerate(stage):
                taps += blk.taps(f"layer{s + 1}.{b}")
        taps.append(LayerTap("pool", self.flatten))  # no weight, no non-linearity: the classifier's input
        taps.append(LayerTap("logits", self.fc, "logits", weight_module=self.fc))
        return taps


def _imagenet(spec: ModelSpec) -> bool:
    return spec.input_shape[1] >= LARGE_INPUT


@register_model("resnet18")
def resnet18(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return ResNet(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), spec.input_shape[0], spec.num_classes, _imagenet(spec))


@register_model("resnet34")
def resnet34(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return ResNet(BasicBlock, (3, 4, 6, 3), (64, 128, 256, 512), spec.input_shape[0], spec.num_classes, _imagenet(spec))


@register_model("resnet50")
def resnet50(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return ResNet(Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512), spec.input_shape[0], spec.num_classes, _imagenet(spec))


@register_model("resnet20")
def resnet20(cfg: RunConfig, spec: ModelSpec) -> nn.Module:
    return ResNet(BasicBlock, (3, 3, 3), (16, 32, 64), spec.input_shape[0], spec.num_classes, imagenet_stem=False,
                  shortcut_a=True)
