#!/usr/bin/python3
"""How accurate are lpt's fp32 gradients? One training step of a model from PyTorch's initial
weights on one Fashion-MNIST batch, computed by lpt (build/experiments/bench/bench_one_step), by
PyTorch in fp32 and by PyTorch in fp64 (the reference). For every parameter it prints
max|g - g64| / max|g64| for lpt and for PyTorch fp32 (the error of a plain SGD update -lr*g
relative to the update's size), then the median and the maximum over the tensors and whether
lpt's are within twice PyTorch's (issue 14, point 6). Tensors whose exact gradient is zero are
listed apart. The last line is the summary as JSON.

  /usr/bin/python3 experiments/bench/one_step_error_torch.py [--model resnet20] [--batch 128]
      [--seed 0] [--threads 2] [--lpt build/experiments/bench/bench_one_step]

Needs Debian's python3-torch and python3-h5py; the architectures are train_bench_torch.py's, whose
state_dict layouts lpt's models are tested against (tests/model_layout_test.cpp).
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_bench_torch import make  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def fashion_batch(n, seed):
    """n training images drawn with the seed, scaled to [0, 1] and standardised with the training
    set's mean and deviation (0.2860, 0.3530), and their labels."""
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    pick = np.random.default_rng(seed).choice(len(labels), n, replace=False)
    x = (images[pick].astype(np.float32) / 255.0 - 0.2860) / 0.3530
    return torch.from_numpy(x), torch.from_numpy(labels[pick].astype(np.int64))


def torch_grads(model, x, y, dtype):
    m = model.to(dtype).train()
    m.zero_grad()
    loss = F.cross_entropy(m(x.to(dtype)), y)
    loss.backward()
    return float(loss), {n: p.grad.double().clone() for n, p in m.named_parameters()}


def lpt_grads(binary, model_name, state, x, y, threads):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "in.h5"), os.path.join(tmp, "out.h5")
        with h5py.File(src, "w") as f:
            f.attrs["model"] = np.bytes_(model_name)  # fixed-length, as lpt reads strings
            for n, t in state.items():
                a = t.numpy()
                f["state/" + n] = a.astype(np.int32) if a.dtype == np.int64 else a
            f["batch/x"] = x.numpy()
            f["batch/labels"] = y.numpy().astype(np.int32)
        subprocess.run([binary, src, out, "--threads", str(threads)], check=True)
        with h5py.File(out, "r") as f:
            return float(f.attrs["loss"]), {n: torch.from_numpy(f["grad/" + n][()]).double() for n in f["grad"]}


def relative_error(g, ref):
    return float((g - ref).abs().max() / ref.abs().max().clamp_min(1e-300))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lpt", default=os.path.join(here, "../../build/experiments/bench/bench_one_step"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = make(a.model, 1, 10, 28, dropout=0.0)
    state = {n: t.detach().clone() for n, t in model.state_dict().items()}
    x, y = fashion_batch(a.batch, a.seed)

    loss32, g32 = torch_grads(model, x, y, torch.float32)
    model.load_state_dict(state)  # the fp32 step updated the running statistics
    loss64, g64 = torch_grads(model, x, y, torch.float64)
    loss_lpt, glpt = lpt_grads(a.lpt, a.model, state, x, y, a.threads)

    # A tensor whose exact gradient is zero (a batch norm's shift feeding a conv that another
    # batch norm follows: that norm subtracts any per-channel constant) has fp64 values at rounding
    # level; its relative error means nothing, so it is listed apart with the absolute values.
    scale = max(float(g.abs().max()) for g in g64.values())
    zero = [n for n in g64 if float(g64[n].abs().max()) < 1e-9 * scale]
    rows = [(n, relative_error(glpt[n], g64[n]), relative_error(g32[n], g64[n])) for n in g64 if n not in zero]
    print(f"{'parameter':<32} {'lpt':>10} {'torch fp32':>10}")
    for n, e_lpt, e_torch in rows:
        print(f"{n:<32} {e_lpt:10.2e} {e_torch:10.2e}")
    if zero:
        print(f"zero gradient in exact arithmetic, max|g| / max over all tensors of max|g64| (fp64: below 1e-9):")
        for n in zero:
            print(f"{n:<32} {float(glpt[n].abs().max()) / scale:10.2e} {float(g32[n].abs().max()) / scale:10.2e}")
    lpt_err, torch_err = [r[1] for r in rows], [r[2] for r in rows]
    summary = {
        "model": a.model, "batch": a.batch, "seed": a.seed, "threads": a.threads, "torch_version": torch.__version__,
        "loss_fp64": loss64, "loss_error_lpt": abs(loss_lpt - loss64), "loss_error_torch": abs(loss32 - loss64),
        "median_lpt": statistics.median(lpt_err), "median_torch": statistics.median(torch_err),
        "max_lpt": max(lpt_err), "max_torch": max(torch_err), "tensors": len(rows), "zero_gradient_tensors": len(zero),
    }
    summary["within_twice_torch"] = (summary["median_lpt"] <= 2 * summary["median_torch"]
                                     and summary["max_lpt"] <= 2 * summary["max_torch"])
    print(f"median over tensors: lpt {summary['median_lpt']:.2e}, torch fp32 {summary['median_torch']:.2e}; "
          f"max: lpt {summary['max_lpt']:.2e}, torch fp32 {summary['max_torch']:.2e}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
