#!/usr/bin/python3
"""PyTorch reference for bench/relevance.R (not part of the package).

Unit relevance with Monte-Carlo dropout for the paper's CNN, the rules of
cphap's "default" preset (w^2 on the first convolution, z+ on the hidden
convolutions, winner-takes-all max pooling), written the usual way with
autograd: each layer's rule is a forward pass with modified weights and a
gradient (the "gradient trick" of zennit and Captum). The T passes of one
sample run as one batch; a dropout mask (rate p, scaled by 1 / (1 - p)) on
the output of the first block is shared by the forward and relevance passes.
Reports seconds for one sample and for all samples, and writes the mean
relevance of a dropout-free pass for the R side to compare.

Usage: relevance.py DIR THREADS PASSES RATE   (DIR written by relevance.R)
"""
import json
import os
import sys
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def load(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    arr = {}
    for name, shape in meta["arrays"].items():
        v = np.fromfile(os.path.join(d, name + ".bin"), dtype="<f8")
        arr[name] = torch.from_numpy(v.reshape(shape[::-1]).transpose().copy())
    return meta, arr


def safe_div(r, d):
    return torch.where(d != 0, r / torch.where(d != 0, d, torch.ones_like(d)),
                       torch.zeros_like(r))


def unit_relevance(P, x, channel, passes, rate, gen):
    """x: [1, 1, L]; returns relevance [passes, 1, L]."""
    W1, b1, W2, b2, W3, b3 = (P[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3"))
    xb = x.expand(passes, -1, -1)
    with torch.no_grad():
        h1 = F.relu(F.conv1d(xb, W1, b1, stride=2))
        p1 = F.max_pool1d(h1, 8, 4)
        if rate > 0:
            keep = (torch.rand(p1.shape, generator=gen) >= rate).to(p1.dtype) / (1 - rate)
            p1 = p1 * keep
        h2 = F.relu(F.conv1d(p1, W2, b2))
        p2 = F.max_pool1d(h2, 4, 2)
        h3 = F.relu(F.conv1d(p2, W3, b3))
        p3 = F.max_pool1d(h3, 4, 2)
    R = torch.zeros_like(p3)
    R[:, channel] = p3[:, channel]

    def wta(a, k, s, R):
        a = a.detach().requires_grad_(True)
        (g,) = torch.autograd.grad((F.max_pool1d(a, k, s) * R).sum(), [a])
        return g

    def zplus(a, W, R, stride=1):
        a = a.detach().requires_grad_(True)
        z = F.conv1d(a, W.clamp(min=0), None, stride=stride)
        s = safe_div(R, z.detach())
        (g,) = torch.autograd.grad((z * s).sum(), [a])
        return a.detach() * g

    def w2(a, W, R, stride):
        ones = torch.ones_like(a).requires_grad_(True)
        z = F.conv1d(ones, W * W, None, stride=stride)
        s = safe_div(R, z.detach())
        (g,) = torch.autograd.grad((z * s).sum(), [ones])
        return g

    R = wta(h3, 4, 2, R)
    R = zplus(p2, W3, R)
    R = wta(h2, 4, 2, R)
    R = zplus(p1, W2, R)          # dropout mask: relevance passes through it
    R = wta(h1, 8, 4, R)
    R = w2(xb, W1, R, 2)
    return R


def stats(R):
    return (R.mean(0), R.std(0), torch.quantile(R, 0.05, dim=0),
            torch.quantile(R, 0.95, dim=0))


def main():
    d, threads, passes, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    torch.set_num_threads(threads)
    meta, P = load(d)
    X = P["x"]                       # [n, 1, L]
    ch = meta["channel"] - 1
    gen = torch.Generator().manual_seed(1)
    # check: one dropout-free pass per sample
    check = torch.stack([unit_relevance(P, X[i:i + 1], ch, 1, 0.0, gen)[0]
                         for i in range(X.shape[0])])
    check.numpy().astype("<f8").tofile(os.path.join(d, "torch_check.bin"))
    unit_relevance(P, X[:1], ch, passes, rate, gen)  # warm up
    # one sample: median of five runs, elapsed and CPU seconds
    ones, ones_cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        stats(unit_relevance(P, X[:1], ch, passes, rate, gen))
        ones.append(time.perf_counter() - t0)
        ones_cpu.append(time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(X.shape[0]):
        stats(unit_relevance(P, X[i:i + 1], ch, passes, rate, gen))
    tn, cn = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"one": statistics.median(ones), "one_cpu": statistics.median(ones_cpu),
                      "all": tn, "all_cpu": cn, "threads": torch.get_num_threads(),
                      "torch": torch.__version__,
                      "blas": "BLAS_INFO=" + ("generic" if "BLAS_INFO=generic" in torch.__config__.show() else "other")}))


if __name__ == "__main__":
    main()
