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


def ronneberger2015(base=64):
    """The original U-Net: unpadded, no batch norm, 1 input channel, 2 classes (base 64 is the
    paper's network; other widths are its variants)."""
    return UNet(1, 2, base, 4, 3, "valid", "none")


def unet_bn(base=64, depth=4, in_channels=1, classes=1):
    """unetpp::presets::unet_bn<base, depth, in_channels, classes>."""
    return UNet(in_channels, classes, base, depth, 3, "same", "batch")


# --- architectures (include/unetpp/models/{bcir,multitask,attention}_unet.hpp) -----------------


class MaxPoolSame(nn.Module):
    """Keras MaxPooling2D(window, strides=1, padding="same"): unetpp's max_pool2d_same."""

    def __init__(self, window=2):
        super().__init__()
        self.window = window

    def forward(self, x):
        before = (self.window - 1) // 2
        after = self.window - 1 - before
        x = F.pad(x, (before, after, before, after), value=float("-inf"))
        return F.max_pool2d(x, self.window, stride=1)


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """Keras Conv2DTranspose(padding="same"): the full transposed convolution cut to stride * in,
    keeping rows from (kernel - stride) // 2 (TensorFlow's alignment); unetpp's
    conv_transpose2d_same."""

    def __init__(self, cin, cout, kernel=3, stride=2):
        super().__init__(cin, cout, kernel, stride=stride)
        self.offset = (kernel - stride) // 2

    def forward(self, x):
        y = super().forward(x)
        h, w = x.shape[2] * self.stride[0], x.shape[3] * self.stride[1]
        return y[:, :, self.offset:self.offset + h, self.offset:self.offset + w]


def _keras_bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class ConvBNReLU(nn.Module):
    """B-Cir level block: conv 3x3 with bias -> BN -> ReLU (names conv, bn)."""

    def __init__(self, cin, cout, kernel=3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.bn = _keras_bn(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SeparableBlock(nn.Module):
    """B-Cir skip path: sep-BN-ReLU, sep-BN-ReLU, sep-ReLU, sep, stride-1 max-pool."""

    def __init__(self, c, kernel=3, pool=2):
        super().__init__()
        self.sep1 = SeparableConv2d(c, c, kernel, bias=False)
        self.bn1 = _keras_bn(c)
        self.sep2 = SeparableConv2d(c, c, kernel, bias=False)
        self.bn2 = _keras_bn(c)
        self.sep3 = SeparableConv2d(c, c, kernel, bias=False)
        self.sep4 = SeparableConv2d(c, c, kernel, bias=False)
        self.pool = MaxPoolSame(pool)

    def forward(self, x):
        x = F.relu(self.bn1(self.sep1(x)))
        x = F.relu(self.bn2(self.sep2(x)))
        x = F.relu(self.sep3(x))
        return self.pool(self.sep4(x))


class BCirSkip(nn.Module):
    def __init__(self, c, dropout, kernel=3, pool=2):
        super().__init__()
        self.path = SeparableBlock(c, kernel, pool)
        self.drop = nn.Dropout(dropout)

    def forward(self, skip, up):
        return self.drop(torch.cat([up, self.path(skip)], dim=1))


class BCirUNet(nn.Module):
    """unetpp::presets::bcir_unet (seed 003, Table 1); returns logits."""

    def __init__(self, in_channels=1, classes=1, base=16, depth=4, dropout=0.1):
        super().__init__()
        self.depth = depth
        ch = lambda level: base << level
        for level in range(depth):
            cin = in_channels if level == 0 else ch(level - 1)
            setattr(self, f"enc{level + 1}", ConvBNReLU(cin, ch(level)))
        self.bottleneck = ConvBNReLU(ch(depth - 1), ch(depth))
        for level in range(depth):
            setattr(self, f"up{level + 1}", ConvTranspose2dSame(ch(level + 1), ch(level), 3, 2))
            setattr(self, f"skip{level + 1}", BCirSkip(ch(level), dropout))
            setattr(self, f"dec{level + 1}", ConvBNReLU(2 * ch(level), ch(level)))
        self.head = nn.Conv2d(base, classes, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        skips = []
        for level in range(self.depth):
            x = getattr(self, f"enc{level + 1}")(x)
            skips.append(x)
            x = self.drop(F.max_pool2d(x, 2, 2))
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = getattr(self, f"up{level + 1}")(x)
            x = getattr(self, f"dec{level + 1}")(getattr(self, f"skip{level + 1}")(skips[level], x))
        return self.head(x)


class ConvBlock(nn.Module):
    """Seed 002 conv block: conv 3x3 (bias) -> BN -> ReLU -> dropout (names conv, bn)."""

    def __init__(self, cin, cout, dropout=0.0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(F.relu(self.bn(self.conv(x))))


class TripleConv(nn.Module):
    def __init__(self, cin, cout, dropout=0.0):
        super().__init__()
        self.block1 = ConvBlock(cin, cout, dropout)
        self.block2 = ConvBlock(cout, cout, dropout)
        self.block3 = ConvBlock(cout, cout, dropout)

    def forward(self, x):
        return self.block3(self.block2(self.block1(x)))


class ResidualBlock(nn.Module):
    """dropout(block2(block1(x))) + shortcut(x), shortcut a 1x1 conv."""

    def __init__(self, cin, cout, dropout=0.0):
        super().__init__()
        self.block1 = ConvBlock(cin, cout, dropout)
        self.block2 = ConvBlock(cout, cout, dropout)
        self.drop = nn.Dropout(dropout)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.drop(self.block2(self.block1(x))) + self.shortcut(x)


class UpDrop(nn.Module):
    def __init__(self, cin, cout, dropout=0.0):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.conv(x))


class ClsHead(nn.Module):
    def __init__(self, features, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class ResidualMultitaskUNet(nn.Module):
    """unetpp::multitask_unet with residual_multitask_policies (seed 002); returns
    (segmentation logits, classification logits)."""

    def __init__(self, image_size=256, in_channels=1, classes=1, base=16, depth=4, dropout=0.1, hidden=64):
        super().__init__()
        self.depth = depth
        ch = lambda level: base << level
        for level in range(depth):
            cin = in_channels if level == 0 else ch(level - 1)
            setattr(self, f"enc{level + 1}", TripleConv(cin, ch(level), dropout))
        self.bottleneck = ResidualBlock(ch(depth - 1), ch(depth), dropout)
        for level in range(depth):
            setattr(self, f"up{level + 1}", UpDrop(ch(level + 1), ch(level), dropout))
            setattr(self, f"dec{level + 1}", TripleConv(2 * ch(level), ch(level), dropout))
        self.seg_head = nn.Conv2d(base, classes, 1)
        self.cls_head = ClsHead(base * image_size * image_size, hidden)

    def forward(self, x):
        skips = []
        for level in range(self.depth):
            x = getattr(self, f"enc{level + 1}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2, 2)
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = getattr(self, f"up{level + 1}")(x)
            x = getattr(self, f"dec{level + 1}")(torch.cat([skips[level], x], dim=1))
        return self.seg_head(x), self.cls_head(x)


class _Proj(nn.Module):
    def __init__(self, cin, cout, batch_norm=True, sigmoid=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.bn = nn.BatchNorm2d(cout) if batch_norm else None
        self.sigmoid = sigmoid

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return torch.sigmoid(x) if self.sigmoid else x


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018): x * sigmoid(psi(ReLU(W_g g + W_x x)))."""

    def __init__(self, gate, skip, inter, batch_norm=True):
        super().__init__()
        self.wg = _Proj(gate, inter, batch_norm)
        self.wx = _Proj(skip, inter, batch_norm)
        self.psi = _Proj(inter, 1, batch_norm, sigmoid=True)

    def forward(self, x, g):
        return x * self.psi(F.relu(self.wg(g) + self.wx(x)))


class AttentionSkip(nn.Module):
    def __init__(self, skip, up, batch_norm=True):
        super().__init__()
        self.gate = AttentionGate(up, skip, max(skip // 2, 1), batch_norm)

    def forward(self, skip, up):
        return torch.cat([self.gate(skip, up), up], dim=1)


class AttentionUNet(UNet):
    """unetpp::unet<cfg, B, T, attention_policies<>>: UNet with attention-gated skips."""

    def __init__(self, in_channels=1, classes=1, base=64, depth=4, kernel=3, pad="same", norm="batch"):
        super().__init__(in_channels, classes, base, depth, kernel, pad, norm)
        for level in range(depth):
            setattr(self, f"skip{level + 1}", AttentionSkip(base << level, base << level, norm == "batch"))

    def forward(self, x):
        skips = []
        for level in range(self.depth):
            x = getattr(self, f"enc{level + 1}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2, 2)
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = getattr(self, f"up{level + 1}")(x)
            x = getattr(self, f"dec{level + 1}")(getattr(self, f"skip{level + 1}")(skips[level], x))
        return self.head(x)



# --- seed 004's CBR2d U-Net, UNet++ and deep supervision ----------------------------------------
# (include/unetpp/models/{presets,unet_plusplus,deep_supervision}.hpp)


class CBRDoubleConv(nn.Module):
    """Seed 004's CBR2d - CBR2d: (Conv 3x3 with bias -> BatchNorm -> ReLU) x 2, names conv1, bn1,
    conv2, bn2 (unetpp's cbr_double_conv)."""

    def __init__(self, cin, cout, kernel=3):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, kernel, padding=kernel // 2)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class UNetCBR(UNet):
    """unetpp::presets::unet_cbr<base, depth, in_channels, classes>: UNet whose level blocks keep
    their convolution bias (seed 004: PyTorch's Conv2d default bias=True before BatchNorm2d)."""

    def __init__(self, in_channels=1, classes=1, base=64, depth=4):
        super().__init__(in_channels, classes, base, depth, 3, "same", "batch")
        ch = lambda level: base << level
        for level in range(depth):
            cin = in_channels if level == 0 else ch(level - 1)
            setattr(self, f"enc{level + 1}", CBRDoubleConv(cin, ch(level)))
            setattr(self, f"dec{level + 1}", CBRDoubleConv(2 * ch(level), ch(level)))
        self.bottleneck = CBRDoubleConv(ch(depth - 1), ch(depth))


def unet_cbr(base=64, depth=4, in_channels=1, classes=1):
    """unetpp::presets::unet_cbr<base, depth, in_channels, classes>."""
    return UNetCBR(in_channels, classes, base, depth)


class NestedUNet(nn.Module):
    """unetpp::nested_unet (UNet++, Zhou et al. 2018): nodes x{i}_{j} for i + j <= depth,
    x{i}_0 = H(pool(x{i-1}_0)), x{i}_{j} = H(cat([x{i}_0, ..., x{i}_{j-1}, up{i}_{j}(x{i+1}_{j-1})]))
    with H = DoubleConv (Conv-BN-ReLU x 2) and up{i}_{j} a 2x2 stride-2 transposed convolution
    from base * 2^(i+1) to base * 2^i channels; head = 1x1 conv on x0_{depth}."""

    def __init__(self, in_channels=1, classes=1, base=32, depth=4, kernel=3, pad="same", norm="batch", dropout=0.0):
        super().__init__()
        self.depth = depth
        bn = norm == "batch"
        ch = lambda level: base << level
        for i in range(depth + 1):
            cin = in_channels if i == 0 else ch(i - 1)
            setattr(self, f"x{i}_0", DoubleConv(cin, ch(i), kernel, pad, bn, dropout))
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                setattr(self, f"up{i}_{j}", nn.ConvTranspose2d(ch(i + 1), ch(i), 2, stride=2))
                setattr(self, f"x{i}_{j}", DoubleConv((j + 1) * ch(i), ch(i), kernel, pad, bn, dropout))
        self.head = nn.Conv2d(base, classes, 1)

    def nodes(self, x):
        """Every node's output, keyed (i, j), in unetpp's evaluation order."""
        out = {}
        for s in range(self.depth + 1):
            for j in range(s + 1):
                i = s - j
                if j == 0:
                    inp = x if i == 0 else F.max_pool2d(out[(i - 1, 0)], 2, 2)
                else:
                    up = getattr(self, f"up{i}_{j}")(out[(i + 1, j - 1)])
                    inp = torch.cat([out[(i, k)] for k in range(j)] + [up], dim=1)
                out[(i, j)] = getattr(self, f"x{i}_{j}")(inp)
        return out

    def forward(self, x):
        return self.head(self.nodes(x)[(0, self.depth)])


def unet_plusplus(base=32, depth=4, in_channels=1, classes=1):
    """unetpp::presets::unet_plusplus<base, depth, in_channels, classes>."""
    return NestedUNet(in_channels, classes, base, depth)


class DeeplySupervised(nn.Module):
    """unetpp::deeply_supervised<Net>: the wrapped network plus one 1x1 convolution head per
    auxiliary tap; returns (main logits, [aux logits...]), every map at the input resolution.

    Taps: for UNet / UNetCBR the decoder blocks dec2..dec{depth} (head aux_dec{L}, its logits
    up-sampled L - 1 times by bilinear x2, align_corners=False); for NestedUNet the nodes
    x0_1..x0_{depth-1} (head aux_x0_{j}, already at full resolution). The wrapped network's
    modules are registered directly, so state_dict keys equal unetpp's names (enc1.conv1.weight,
    aux_dec2.weight)."""

    def __init__(self, net):
        super().__init__()
        self._inner = [net]  # not a submodule: its children are registered below, unprefixed
        for name, module in net.named_children():
            self.add_module(name, module)
        self.nested = isinstance(net, NestedUNet)
        base = net.head.in_channels
        classes = net.head.out_channels
        if self.nested:
            self.taps = [f"x0_{j}" for j in range(1, net.depth)]
            widths = [base] * len(self.taps)
            self.scales = [0] * len(self.taps)
        else:
            self.taps = [f"dec{level + 1}" for level in range(1, net.depth)]
            widths = [base << level for level in range(1, net.depth)]
            self.scales = list(range(1, net.depth))
        for tap, width in zip(self.taps, widths):
            setattr(self, f"aux_{tap}", nn.Conv2d(width, classes, 1))

    def forward(self, x):
        net = self._inner[0]
        seen = {}
        hooks = [getattr(net, t).register_forward_hook(lambda m, i, o, t=t: seen.__setitem__(t, o)) for t in self.taps]
        try:
            main = net(x)
        finally:
            for h in hooks:
                h.remove()
        aux = []
        for tap, scale in zip(self.taps, self.scales):
            y = getattr(self, f"aux_{tap}")(seen[tap])
            for _ in range(scale):
                y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            aux.append(y)
        return main, aux


def forward_flops(model, x):
    """2 x the multiply-adds of every Conv2d, ConvTranspose2d and Linear in one forward of `model`
    on `x` (batch norm, activations, pooling and up-sampling not counted), from forward hooks:
      Conv2d           2 * (cin / groups) * kh * kw * cout * oh * ow * n
      ConvTranspose2d  2 * cin * (cout / groups) * kh * kw * h * w * n   (h, w: the input's)
      Linear           2 * in_features * out_features * n."""
    total = [0]

    def hook(mod, inputs, output):
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total[0] += 2 * (mod.in_channels // mod.groups) * kh * kw * output.numel()
        elif isinstance(mod, nn.ConvTranspose2d):
            kh, kw = mod.kernel_size
            total[0] += 2 * inputs[0].numel() * (mod.out_channels // mod.groups) * kh * kw
        elif isinstance(mod, nn.Linear):
            total[0] += 2 * mod.in_features * mod.out_features * (inputs[0].numel() // mod.in_features)

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]

if __name__ == "__main__":
    n = sum(p.numel() for p in ronneberger2015().parameters())
    print(f"ronneberger2015 parameters: {n}")
