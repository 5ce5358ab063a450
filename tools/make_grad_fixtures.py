#!/usr/bin/python3
"""Gradient and optimiser fixtures for cphap's trainer, computed with PyTorch
autograd in float64.

Development-time tool only. For a few networks that together use every layer
type (four of them are the networks of make_fixtures.py, built with the same
seeds), the script evaluates the softmax cross-entropy of the network's
logits (the output softmax skipped, as cphap's trainer does) on given inputs
and labels, in training mode (batch norm with batch statistics, dropout with
an explicit mask written to the fixture) or in evaluation mode, and writes

    list(name, model, x, y, mode, masks, class_weights, loss, grads,
         running, adam, after_adam, info)

- y: labels, 1-based integers.
- mode: "train" or "eval".
- masks: list of list(layer = j, mask = array [n, C, L]) (already scaled by
  1 / (1 - rate)) for the dropout layers in training mode.
- class_weights: per-class weights of the loss, or an empty list.
- loss: the weighted mean cross-entropy (torch.nn.functional.cross_entropy).
- grads: one entry per layer: list(weight, bias) or list(gamma, beta) in
  the list format's shapes (conv out x in x kernel, dense out x in), or an
  empty list for layers without parameters.
- running: one entry per layer: list(run_mean, run_var) of a batch-norm
  layer after the forward pass (momentum 0.1, unbiased variance), else empty.
- adam: list(lr, beta1, beta2, eps, weight_decay); after_adam: the layers'
  parameters (same format as grads) after one torch.optim.Adam step.

The writer (exact hexadecimal floats, gzip without time stamp) is the one of
make_fixtures.py, imported from it.

Usage: /usr/bin/python3 tools/make_grad_fixtures.py [--out DIR]
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


def build_small_cnn():
    """The paper's CNN layout at a small size, with dropout in training mode."""
    net = mf.Net("small_cnn", (1, 80))
    net.conv(1, 6, 7, "relu", stride=2, key="c1")
    net.maxpool(4, 2)
    net.conv(6, 8, 5, "relu", key="c2")
    net.maxpool(2, 2)
    net.conv(8, 10, 3, "relu", key="c3")
    net.maxpool(2, 2)
    net.skipping(0.5)
    net.flatten()
    net.dense(10 * 2, 4, "softmax", key="d")
    return net, None


def param_names(spec):
    t = spec["type"]
    if t in ("Conv1D", "Dense"):
        return ["weight", "bias"]
    if t == "BatchNorm":
        return ["gamma", "beta"]
    return []


def forward_logits(net, x, training, masks):
    vals = {0: x}
    running = {}
    n = len(net.layers)
    for i, lay in enumerate(net.layers, start=1):
        spec = lay["spec"]
        ins = [vals[j] for j in lay["inputs"]]
        t = spec["type"]
        if t == "BatchNorm" and training:
            rm = spec["run_mean"].detach().clone()
            rv = spec["run_var"].detach().clone()
            out = F.batch_norm(ins[0], rm, rv, spec["gamma"], spec["beta"], training=True,
                               momentum=0.1, eps=spec["eps"])
            running[i] = (rm, rv)
        elif t == "Skipping" and training and i in masks:
            out = ins[0] * masks[i]
        elif i == n and spec.get("activation_name") == "softmax":
            assert t == "Dense"
            out = F.linear(ins[0], spec["weight"], spec["bias"])
        else:
            out = lay["fn"](*ins)
        vals[i] = out
    return vals[n], running


# name -> (builder, n samples, seed, mode, class weights?, adam settings)
NETS = {
    "valid_cnn": (mf.build_valid_cnn, 6, 105, "eval", False, (0.01, 0.9, 0.999, 1e-8, 0.0)),
    "odd": (mf.build_odd, 7, 104, "eval", True, (0.003, 0.8, 0.99, 1e-6, 0.01)),
    "fcn": (mf.build_fcn, 5, 102, "train", True, (0.01, 0.9, 0.999, 1e-8, 0.001)),
    "resnet": (mf.build_resnet, 6, 103, "train", False, (0.001, 0.9, 0.999, 1e-8, 0.0)),
    "small_cnn": (build_small_cnn, 8, 106, "train", False, (0.01, 0.9, 0.999, 1e-8, 0.05)),
}


def make_one(name, outdir):
    builder, n, seed, mode, weighted, adam = NETS[name]
    torch.manual_seed(seed)
    with torch.no_grad():
        net, _ = builder()
        x = torch.randn(n, *net.input_dim)
    model = net.to_list()  # exported before any update
    model = mf_copy(model)
    training = mode == "train"
    out_units = net.layers[-1]["spec"]["weight"].shape[0]
    g = torch.Generator().manual_seed(seed + 1000)
    y = torch.randint(0, out_units, (n,), generator=g)
    y[:out_units] = torch.arange(out_units)[:min(n, out_units)]
    cw = (0.5 + 1.5 * torch.rand(out_units, generator=g)) if weighted else None
    masks = {}
    if training:
        for i, lay in enumerate(net.layers, start=1):
            if lay["spec"]["type"] == "Skipping":
                with torch.no_grad():
                    shape = (n,) + tuple(net.forward(x)[i - 2].shape[1:])
                rate = lay["spec"]["rate"]
                keep = (torch.rand(shape, generator=g) >= rate).double()
                masks[i] = keep / (1.0 - rate)

    params = []
    for lay in net.layers:
        for p in param_names(lay["spec"]):
            lay["spec"][p].requires_grad_(True)
            params.append(lay["spec"][p])
    logits, running = forward_logits(net, x, training, masks)
    loss = F.cross_entropy(logits, y, weight=cw)
    loss.backward()

    grads, run = [], []
    for i, lay in enumerate(net.layers, start=1):
        spec = lay["spec"]
        grads.append({p: spec[p].grad.detach().clone() for p in param_names(spec)})
        run.append({"run_mean": running[i][0], "run_var": running[i][1]} if i in running else {})

    lr, b1, b2, eps, wd = adam
    opt = torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    opt.step()
    after = [{p: lay["spec"][p].detach().clone() for p in param_names(lay["spec"])}
             for lay in net.layers]

    fixture = {
        "name": name,
        "model": model,
        "x": x,
        "y": mf.IntVec((y + 1).tolist()),
        "mode": mode,
        "masks": [{"layer": i, "mask": m} for i, m in masks.items()],
        "class_weights": cw if cw is not None else [],
        "loss": float(loss.item()),
        "grads": grads,
        "running": run,
        "adam": {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "weight_decay": wd},
        "after_adam": after,
        "info": {"generator": "tools/make_grad_fixtures.py",
                 "torch_version": torch.__version__, "seed": seed, "dtype": "float64"},
    }
    path = os.path.join(outdir, name + ".txt.gz")
    mf.write_fixture(path, fixture)
    print("%-10s n=%d mode=%-5s loss=%.6f size=%d bytes" %
          (name, n, mode, loss.item(), os.path.getsize(path)))


def mf_copy(obj):
    """Deep copy of the exported list with tensors cloned (the parameters are
    updated by Adam afterwards)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, mf.IntVec):
        return mf.IntVec(obj)
    if isinstance(obj, dict):
        return {k: mf_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mf_copy(v) for v in obj]
    return obj


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "testthat", "fixtures", "grad"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in NETS:
        make_one(name, args.out)


if __name__ == "__main__":
    main()
