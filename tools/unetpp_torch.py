"""PyTorch modules that mirror unetpp's architectures parameter for parameter.

The state_dict keys of these modules are exactly the parameter names unetpp reports
(``enc1.conv1.weight``, ``up2.bias``, ``head.weight``...), so weights move between the two by
name. Used by the parity tests (tests/parity/) and the benchmarks (bench/).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def _pad_args(kernel, pad):
    if pad == "valid":
        return 0, "zeros"
    if pad == "same":
        return kernel // 2, "zeros"
    if pad == "reflect":
        return kernel // 2, "reflect"
    raise ValueError(f"unknown padding {pad!r} (valid, same or reflect)")


class DoubleConv(nn.Module):
    """(Conv -> [BatchNorm] -> ReLU) x 2 -> [Dropout]; unetpp's double_conv block."""

    def __init__(self, cin, cout, kernel=3, pad="same", batch_norm=True, dropout=0.0):
        super().__init__()
        p, mode = _pad_args(kernel, pad)
        self.conv1 = nn.Conv2d(cin, cout, kernel, padding=p, padding_mode=mode, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(cout) if batch_norm else None
        self.conv2 = nn.Conv2d(cout, cout, kernel, padding=p, padding_mode=mode, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(cout) if batch_norm else None
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x):
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.bn1(x)
        x = F.relu(x)
        x = self.conv2(x)
        if self.bn2 is not None:
            x = self.bn2(x)
        x = F.relu(x)
        if self.drop is not None:
            x = self.drop(x)
        return x


class BilinearUp(nn.Module):
    """Bilinear x2 upsampling then a 1x1 convolution (unetpp's up_mode::bilinear)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.conv(self.upsample(x))


class SeparableConv2d(nn.Module):
    """Depthwise k x k convolution without bias, then a 1x1 pointwise convolution (unetpp's
    separable_conv2d; parameter names depthwise.weight, pointwise.weight, pointwise.bias)."""

    def __init__(self, cin, cout, kernel=3, pad="same", bias=True):
        super().__init__()
        p, mode = _pad_args(kernel, pad)
        self.depthwise = nn.Conv2d(cin, cin, kernel, padding=p, padding_mode=mode, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def center_crop(x, h, w):
    top = (x.shape[2] - h) // 2
    left = (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


class UNet(nn.Module):
    """unetpp::unet<unet_cfg{...}> with default policies."""

    def __init__(self, in_channels=1, classes=1, base=64, depth=4, kernel=3, pad="same",
                 norm="batch", dropout=0.0, up="transposed"):
        super().__init__()
        self.depth = depth
        self.crop = pad == "valid"
        bn = norm == "batch"
        ch = lambda level: base << level
        for level in range(depth):
            cin = in_channels if level == 0 else ch(level - 1)
            setattr(self, f"enc{level + 1}", DoubleConv(cin, ch(level), kernel, pad, bn, dropout))
        self.bottleneck = DoubleConv(ch(depth - 1), ch(depth), kernel, pad, bn, dropout)
        for level in range(depth):
            if up == "transposed":
                module = nn.ConvTranspose2d(ch(level + 1), ch(level), 2, stride=2)
            else:
                module = BilinearUp(ch(level + 1), ch(level))
            setattr(self, f"up{level + 1}", module)
            setattr(self, f"dec{level + 1}", DoubleConv(2 * ch(level), ch(level), kernel, pad, bn, dropout))
        self.head = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        skips = []
        for level in range(self.depth):
            x = getattr(self, f"enc{level + 1}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2, 2)
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = getattr(self, f"up{level + 1}")(x)
            skip = skips[level]
            if self.crop:
                skip = center_crop(skip, x.shape[2], x.shape[3])
            x = getattr(self, f"dec{level + 1}")(torch.cat([skip, x], dim=1))
        return self.head(x)


def ronneberger2015():
    """The original U-Net: unpadded, no batch norm, 1 input channel, 2 classes."""
    return UNet(1, 2, 64, 4, 3, "valid", "none")


def unet_bn(base=64, depth=4, in_channels=1, classes=1):
    """unetpp::presets::unet_bn<base, depth, in_channels, classes>."""
    return UNet(in_channels, classes, base, depth, 3, "same", "batch")


if __name__ == "__main__":
    n = sum(p.numel() for p in ronneberger2015().parameters())
    print(f"ronneberger2015 parameters: {n}")
