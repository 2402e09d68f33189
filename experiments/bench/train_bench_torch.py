#!/usr/bin/python3
"""PyTorch 1.13 peer of bench_train (experiments/bench/train_bench.cpp): trains one model for
warm-up + timed steps on seeded synthetic batches and prints one JSON line
{"model", "width", "images_per_s", "peak_rss_mib", "torch_version", "threads"}.

The step matches lpt's: training mode, forward, cross-entropy, backward, SGD with Nesterov momentum
0.9, weight decay 5e-4 on multi-dimensional parameters only (lpt's default params_1d.weight_decay = 0), a per-step
cosine learning rate, and the loss read back every step. Model and inputs are channels-last, the
fastest CPU path of PyTorch with oneDNN. The architectures are the reference definitions of
tests/model_layout_test.cpp, whose state_dict layouts lpt's models are tested against.

  /usr/bin/python3 experiments/bench/train_bench_torch.py --model resnet20 [--width 1] [--steps 20]
                   [--warmup 3] [--threads 2] [--memory-format channels_last]
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tv
from torchvision.models._utils import _make_divisible


# ---- reference architectures, as in tests/model_layout_test.cpp ----
class Block(nn.Module):  # CIFAR BasicBlock, option-B (1x1 conv + BN) shortcut
    def __init__(s, i, o, stride):
        super().__init__()
        s.conv1, s.bn1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
        s.conv2, s.bn2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        s.downsample = (nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
                        if stride != 1 or i != o else nn.Identity())

    def forward(s, x):
        return F.relu(s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x))))) + s.downsample(x))


class CifarResNet(nn.Module):
    def __init__(s, depth, cin, k):
        super().__init__()
        n, i = (depth - 2) // 6, 16
        s.conv1, s.bn1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        for L, (o, st) in enumerate([(16, 1), (32, 2), (64, 2)], 1):
            setattr(s, f"layer{L}", nn.Sequential(*[Block(i if b == 0 else o, o, st if b == 0 else 1) for b in range(n)]))
            i = o
        s.fc = nn.Linear(64, k)

    def forward(s, x):
        x = s.layer3(s.layer2(s.layer1(F.relu(s.bn1(s.conv1(x))))))
        return s.fc(x.mean((2, 3)))


def imagenet_resnet(depth, cin, k, size):
    m = getattr(tv, f"resnet{depth}")(num_classes=k)
    m.conv1 = nn.Conv2d(cin, 64, 3, 1, 1, bias=False) if size <= 32 else nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
    if size <= 32:
        m.maxpool = nn.Identity()
    return m


def mobilenet_v2(cin, k, width, size, dropout=0.2):
    m = tv.mobilenet_v2(num_classes=k, width_mult=width, dropout=dropout)
    m.features[0][0] = nn.Conv2d(cin, m.features[0][0].out_channels, 3, 1 if size <= 32 else 2, 1, bias=False)
    return m


class MobileNetV1(nn.Module):
    def __init__(s, cin, k, width, size):
        super().__init__()
        c, i = (lambda x: _make_divisible(x * width, 8)), _make_divisible(32 * width, 8)
        feats = [nn.Sequential(nn.Conv2d(cin, i, 3, 1 if size <= 32 else 2, 1, bias=False), nn.BatchNorm2d(i), nn.ReLU())]
        for o, st in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]:
            feats.append(nn.Sequential(nn.Conv2d(i, i, 3, st, 1, groups=i, bias=False), nn.BatchNorm2d(i), nn.ReLU(),
                                       nn.Conv2d(i, c(o), 1, bias=False), nn.BatchNorm2d(c(o)), nn.ReLU()))
            i = c(o)
        s.features, s.classifier = nn.Sequential(*feats), nn.Linear(i, k)

    def forward(s, x):
        return s.classifier(s.features(x).mean((2, 3)))


def make(name, cin, k, size, width=1.0, dropout=0.2):
    if name == "mobilenet_v1": return MobileNetV1(cin, k, width, size)
    if name == "mobilenet_v2": return mobilenet_v2(cin, k, width, size, dropout)
    d = int(name[6:])
    return imagenet_resnet(d, cin, k, size) if d in (18, 34, 50) else CifarResNet(d, cin, k)
# ---- end of reference architectures ----


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="resnet20, mobilenet_v2, ... (lpt's model names)")
    p.add_argument("--width", type=float, default=1.0, help="MobileNet width multiplier")
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=28, help="input height = width")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last",
                   help="of model and inputs (contiguous: to check that channels-last is the faster one)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    fmt = torch.channels_last if a.memory_format == "channels_last" else torch.contiguous_format
    model = make(a.model, a.channels, a.classes, a.size, a.width).to(memory_format=fmt).train()
    one_d = [q for q in model.parameters() if q.ndim == 1]
    multi_d = [q for q in model.parameters() if q.ndim != 1]
    opt = torch.optim.SGD([{"params": multi_d}, {"params": one_d, "weight_decay": 0.0}], lr=0.1, momentum=0.9,
                          nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.warmup + a.steps)
    batches = [((torch.rand(a.batch, a.channels, a.size, a.size) * 2 - 1).contiguous(memory_format=fmt),
                torch.randint(0, a.classes, (a.batch,))) for _ in range(4)]

    def step(i):
        x, y = batches[i % len(batches)]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        value = loss.item()
        if not math.isfinite(value):
            raise SystemExit(f"train_bench_torch: step {i}: the loss is {value}")

    for i in range(a.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(a.warmup, a.warmup + a.steps):
        step(i)
    seconds = time.perf_counter() - start
    print(json.dumps({"model": a.model, "width": a.width, "memory_format": a.memory_format,
                      "images_per_s": a.batch * a.steps / seconds,
                      "seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "torch_version": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
