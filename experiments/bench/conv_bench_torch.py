#!/usr/bin/python3
"""PyTorch's convolutions on the shapes bench_ops gives (its BM_ModelConv), per lane: GFLOP/s.

Run by bench_ops (never needed by lpt itself) with Debian's python3-torch, whose CPU convolutions
go through the same oneDNN 2.6 lpt uses:
  conv_bench_torch.py --threads 2 --batch 128 --convs '[{"c_in":16,"c_out":16,"hw":28,"k":3,"stride":1,"groups":1}, ...]'
Prints one JSON object per line and conv, in order:
  {"fp32_fwd": ..., "bf16_fwd": ..., "int8_fwd": ..., "fp32_fwdbwd": ..., "bf16_fwdbwd": ...}
Everything is channels-last at batch `batch`, padding k // 2, no bias, as bench_ops runs lpt:
- fp32 and bf16: F.conv2d on float32 / bfloat16 tensors (bf16: bf16 gradients, where lpt's are fp32);
- int8: torch.ao.nn.quantized.Conv2d with the "onednn" engine, quint8 activations (scale 0.01),
  qint8 weights per output channel, quint8 output (PyTorch requantizes; lpt writes fp32).
FLOPs count 2 per multiply-add of the forward GEMM, three GEMMs for forward+backward.
A lane PyTorch cannot run gives null for that entry.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def rate(fn, flops, min_seconds=0.1, repeats=3):
    """GFLOP/s of fn, the best of `repeats` timings of at least min_seconds each (after a warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / n)
    return flops / best * 1e-9


def float_lanes(c, x, w, dtype, flops):
    x = x.to(dtype).contiguous(memory_format=torch.channels_last)
    w = w.to(dtype).contiguous(memory_format=torch.channels_last)
    args = dict(stride=c["stride"], padding=c["k"] // 2, groups=c["groups"])
    with torch.no_grad():
        fwd = rate(lambda: F.conv2d(x, w, **args), flops)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    dy = None

    def step():
        nonlocal dy
        y = F.conv2d(xg, wg, **args)
        if dy is None:
            dy = torch.rand_like(y)
        y.backward(dy)
        xg.grad = wg.grad = None

    return fwd, rate(step, 3 * flops)


def int8_lane(c, x, w, flops):
    conv = torch.ao.nn.quantized.Conv2d(c["c_in"], c["c_out"], c["k"], stride=c["stride"], padding=c["k"] // 2,
                                        groups=c["groups"], bias=False)
    scales = torch.full((c["c_out"],), 0.002)
    wq = torch.quantize_per_channel(w, scales, torch.zeros(c["c_out"], dtype=torch.long), 0, torch.qint8)
    conv.set_weight_bias(wq, None)
    conv.scale, conv.zero_point = 0.05, 0
    xq = torch.quantize_per_tensor(x.abs(), 0.01, 0, torch.quint8).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return rate(lambda: conv(xq), flops)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--convs", required=True, help="JSON list of {c_in, c_out, hw, k, stride, groups}")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    torch.backends.quantized.engine = "onednn"
    for c in json.loads(a.convs):
        x = torch.rand(a.batch, c["c_in"], c["hw"], c["hw"]) * 2 - 1
        w = (torch.rand(c["c_out"], c["c_in"] // c["groups"], c["k"], c["k"]) * 2 - 1) * 0.1
        ho = (c["hw"] + 2 * (c["k"] // 2) - c["k"]) // c["stride"] + 1
        flops = 2.0 * a.batch * c["c_out"] * ho * ho * (c["c_in"] // c["groups"]) * c["k"] * c["k"]
        out = {}
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            try:
                out[name + "_fwd"], out[name + "_fwdbwd"] = float_lanes(c, x, w, dtype, flops)
            except RuntimeError:
                out[name + "_fwd"] = out[name + "_fwdbwd"] = None
        try:
            out["int8_fwd"] = int8_lane(c, x, w, flops)
        except RuntimeError:
            out["int8_fwd"] = None
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
