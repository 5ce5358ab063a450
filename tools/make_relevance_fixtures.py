#!/usr/bin/python3
"""Reference relevances (LRP) for cphap, computed with PyTorch in float64.

Development-time tool only. Reuses the networks, inputs and the R writer of
tools/make_fixtures.py (same seeds, so the networks are those of
tests/testthat/fixtures/<name>.txt.gz) and implements every relevance rule
independently with the gradient trick: for a layer f and relevance R at its
output, a modified forward pass z = f'(a) gives the input relevance
a * d/da sum(z * stop_gradient(R / z)).

Writes tests/testthat/fixtures/relevance/<name>.txt.gz, an R expression
evaluating to

    list(name, n, output, cases = list(list(rules, seed, relevance), ...))

- n: how many of the fixture's samples are used (the first n);
- output: the network output for those samples (to check the network);
- rules: list(first, conv, dense, output, batchnorm, maxpool, global_maxpool,
  epsilon, alpha, beta) as cphap's lrp_rules() names them;
- seed: list(type = "all" | "node" | "class" | "class_filter", node (1-based
  layer index of the seeded / filtered layer), channel, position, class (one
  1-based class per sample));
- relevance: array [n, C, L].

Usage:  /usr/bin/python3 tools/make_relevance_fixtures.py [--only NAME ...]
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

COMPOSITES = {
    "default": dict(first="w2", conv="zplus", dense="zplus", output="epsilon",
                    batchnorm="zplus", maxpool="wta", global_maxpool="wta",
                    epsilon=1e-9, alpha=2.0, beta=1.0),
    "epsilon": dict(first="epsilon", conv="epsilon", dense="epsilon", output="epsilon",
                    batchnorm="epsilon", maxpool="wta", global_maxpool="wta",
                    epsilon=1e-9, alpha=2.0, beta=1.0),
    "alpha_beta": dict(first="w2", conv="alpha_beta", dense="alpha_beta",
                       output="epsilon", batchnorm="alpha_beta", maxpool="wta",
                       global_maxpool="wta", epsilon=1e-9, alpha=2.0, beta=1.0),
    "zplus": dict(first="zplus", conv="zplus", dense="zplus", output="zplus",
                  batchnorm="zplus", maxpool="wta", global_maxpool="wta",
                  epsilon=1e-9, alpha=2.0, beta=1.0),
    "mix": dict(first="flat", conv="alpha_beta", dense="epsilon", output="zplus",
                batchnorm="identity", maxpool="proportional",
                global_maxpool="proportional", epsilon=1e-3, alpha=1.5, beta=0.5),
    "mix2": dict(first="alpha_beta", conv="epsilon", dense="alpha_beta",
                 output="alpha_beta", batchnorm="epsilon", maxpool="wta",
                 global_maxpool="wta", epsilon=0.05, alpha=3.0, beta=2.0),
}

# name -> (samples used, composites, unit A (all / class filter), unit B (node))
PLAN = {
    "valid_cnn": (3, list(COMPOSITES), 4, 2),
    "odd": (4, list(COMPOSITES), 4, 6),
    "fcn": (3, list(COMPOSITES), 6, 9),
    "resnet": (3, list(COMPOSITES), 12, 18),
    "paper_cnn": (1, ["default", "epsilon", "alpha_beta"], 4, 6),
    "dropout_cnn": (3, list(COMPOSITES), 6, 5),
    "resnet_skip": (3, list(COMPOSITES), 13, 19),
    "dropout_mlp": (3, list(COMPOSITES), None, None),   # class seeds only
}


# ---------------------------------------------------------------- helpers

def safe_div(r, d):
    return torch.where(d != 0, r / torch.where(d != 0, d, torch.ones_like(d)),
                       torch.zeros_like(r))


def stab(z, eps):
    return torch.where(z >= 0, z + eps, z - eps)


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def grads(out, inputs):
    return torch.autograd.grad(out, inputs, allow_unused=False)


def linear_rule(rule, fwd, a, W, b, R, c):
    """Relevance of a linear map fwd(a, W, b) with rule `rule`."""
    eps, alpha, beta = c["epsilon"], c["alpha"], c["beta"]
    if rule == "epsilon":
        al = leaf(a)
        z = fwd(al, W, b)
        s = safe_div(R, stab(z.detach(), eps))
        (g,) = grads((z * s).sum(), [al])
        return a * g
    if rule in ("zplus", "alpha_beta"):
        if rule == "zplus":
            alpha, beta = 1.0, 0.0
        ap, an = leaf(a.clamp(min=0)), leaf(a.clamp(max=0))
        Wp, Wn = W.clamp(min=0), W.clamp(max=0)
        zp = fwd(ap, Wp, None) + fwd(an, Wn, None)
        zn = fwd(ap, Wn, None) + fwd(an, Wp, None)
        sp = alpha * safe_div(R, zp.detach())
        sn = beta * safe_div(R, zn.detach())
        gp_a, gp_n = grads((zp * sp).sum(), [ap, an])
        gn_a, gn_n = grads((zn * sn).sum(), [ap, an])
        return ap.detach() * (gp_a - gn_a) + an.detach() * (gp_n - gn_n)
    if rule in ("w2", "flat"):
        ones = leaf(torch.ones_like(a))
        W2 = W * W if rule == "w2" else torch.ones_like(W)
        z = fwd(ones, W2, None)
        s = safe_div(R, z.detach())
        (g,) = grads((z * s).sum(), [ones])
        return g
    if rule == "identity":
        return R.reshape(a.shape)
    raise ValueError(rule)


def conv_fwd(spec):
    pl, pr = spec["padding"]
    st, dil = spec["stride"], spec["dilation"]

    def f(a, W, b):
        return F.conv1d(F.pad(a, (pl, pr)), W, b, stride=st, dilation=dil)
    return f


def dense_fwd(a, W, b):
    return F.linear(a.flatten(1), W, b)


def diag_fwd(a, W, b):
    y = a * W[None, :, None]
    return y if b is None else y + b[None, :, None]


def sum_pool(a, k, s):
    return a.unfold(2, k, s).sum(-1)


# ------------------------------------------------------------ the network

class Graph:
    def __init__(self, net):
        self.net = net
        self.L = net.layers
        self.types = [l["spec"]["type"] for l in self.L]
        n = len(self.L)
        self.consumers = [0] * (n + 1)
        for l in self.L:
            for p in l["inputs"]:
                self.consumers[p] += 1
        lin = [i for i, t in enumerate(self.types, 1) if t in ("Conv1D", "Dense")]
        last = max(lin)
        self.out = last if all(self.types[j - 1] in ("Activation", "Skipping", "Flatten")
                               for j in range(last + 1, n + 1)) else None
        self.absorbed = set()
        self.folded = {}
        for i, l in enumerate(self.L, 1):
            if self.types[i - 1] == "BatchNorm":
                p = l["inputs"][0]
                if (p > 0 and self.types[p - 1] == "Conv1D"
                        and self.L[p - 1]["spec"]["activation_name"] == "linear"
                        and self.consumers[p] == 1):
                    self.absorbed.add(p)
                    self.folded[i] = p

    def passes_values(self, p):
        """Layer p outputs its input's values: dropout at inference, padding,
        flattening or a linear activation."""
        spec = self.L[p - 1]["spec"]
        return (spec["type"] in ("Skipping", "Padding", "Flatten")
                or (spec["type"] == "Activation" and spec["act_name"] == "linear"))

    def reads_input(self, i):
        """Layer i sees the model input itself (through layers that keep its
        values), so it gets the first-layer rule."""
        p = self.L[i - 1]["inputs"][0]
        while p > 0 and self.passes_values(p):
            p = self.L[p - 1]["inputs"][0]
        return p == 0

    def kind(self, i):
        if self.reads_input(i):
            return "first"
        if i == self.out:
            return "output"
        return "conv" if self.types[i - 1] == "Conv1D" else "dense"

    def pre_activation(self, i, vals):
        spec = self.L[i - 1]["spec"]
        a = vals[self.L[i - 1]["inputs"][0]]
        if spec["type"] == "Dense":
            return F.linear(a.flatten(1), spec["weight"], spec["bias"])
        if spec["type"] == "Conv1D":
            return conv_fwd(spec)(a, spec["weight"], spec["bias"])
        if spec["type"] == "Activation":
            return a
        return vals[i]

    def back(self, i, vals, rel, c):
        """Send rel[i] to the inputs of layer i."""
        lay = self.L[i - 1]
        spec, t = lay["spec"], self.types[i - 1]
        R = rel[i]
        ins = lay["inputs"]
        if i in self.absorbed:
            return
        a = vals[ins[0]]
        eps = c["epsilon"]
        if t in ("Conv1D", "Dense"):
            fwd = conv_fwd(spec) if t == "Conv1D" else dense_fwd
            r = linear_rule(c[self.kind(i)], fwd, a, spec["weight"], spec["bias"], R, c)
            rel[ins[0]] = rel[ins[0]] + r.reshape(a.shape)
        elif t == "BatchNorm":
            sc = spec["gamma"] / torch.sqrt(spec["run_var"] + spec["eps"])
            sh = spec["beta"] - spec["run_mean"] * sc
            if i in self.folded:
                p = self.folded[i]
                cs = self.L[p - 1]["spec"]
                W = cs["weight"] * sc[:, None, None]
                b = cs["bias"] * sc + sh
                src = self.L[p - 1]["inputs"][0]
                r = linear_rule(c[self.kind(p)], conv_fwd(cs), vals[src], W, b, R, c)
                rel[src] = rel[src] + r
            else:
                r = linear_rule(c["batchnorm"], diag_fwd, a, sc, sh, R, c)
                rel[ins[0]] = rel[ins[0]] + r
        elif t == "MaxPooling1D" or t == "AveragePooling1D":
            k, s = spec["kernel_size"], spec["strides"]
            if t == "MaxPooling1D" and c["maxpool"] == "wta":
                al = leaf(a)
                (g,) = grads((F.max_pool1d(al, k, s) * R).sum(), [al])
                rel[ins[0]] = rel[ins[0]] + g
            else:
                # proportional: stabilise the layer's own output (zennit's
                # Norm rule): the mean for average pooling; the window sum
                # for proportional max pooling
                al = leaf(a)
                z = F.avg_pool1d(al, k, s) if t == "AveragePooling1D" else sum_pool(al, k, s)
                sv = safe_div(R, stab(z.detach(), eps))
                (g,) = grads((z * sv).sum(), [al])
                rel[ins[0]] = rel[ins[0]] + a * g
        elif t == "GlobalPooling":
            al = leaf(a)
            if spec["method"] == "max" and c["global_maxpool"] == "wta":
                y, _ = al.max(dim=2)
                (g,) = grads((y * R).sum(), [al])
                rel[ins[0]] = rel[ins[0]] + g
            else:
                z = al.mean(dim=2) if spec["method"] == "average" else al.sum(dim=2)
                sv = safe_div(R, stab(z.detach(), eps))
                (g,) = grads((z * sv).sum(), [al])
                rel[ins[0]] = rel[ins[0]] + a * g
        elif t == "Add":
            z = sum(vals[p] for p in ins)
            sv = safe_div(R, stab(z, eps))
            for p in ins:
                rel[p] = rel[p] + vals[p] * sv
        elif t == "Padding":
            pl = spec["padding"][0]
            rel[ins[0]] = rel[ins[0]] + R[:, :, pl:pl + a.shape[2]]
        else:  # Activation, Skipping, Flatten
            rel[ins[0]] = rel[ins[0]] + R.reshape(a.shape)

    def lrp(self, x, c, seed_node, R_seed, filt=None):
        outs = self.net.forward(x)
        vals = {0: x}
        for i, o in enumerate(outs, 1):
            vals[i] = o.detach()
        rel = {i: torch.zeros_like(vals[i]) for i in range(0, seed_node + 1)}
        rel[seed_node] = R_seed
        for i in range(seed_node, 0, -1):
            if filt is not None and i == filt[0]:
                keep = torch.zeros_like(rel[i])
                keep[:, filt[1] - 1] = rel[i][:, filt[1] - 1]
                rel[i] = keep
                for m in range(0, i):
                    rel[m] = torch.zeros_like(rel[m])
            self.back(i, vals, rel, c)
        return rel[0]


# --------------------------------------------------------------- the cases

def unit_seeds(vals, unit_a, unit_b, classes, n_out, R_cls):
    """Seeds: all positions of channel ch_a of unit_a, the largest node of
    channel ch_b of unit_b, a class logit, and the class logit kept only
    through channel ch_a of unit_a (channels: the largest activation sum in
    sample 1)."""
    ch_a = int(vals[unit_a][0].sum(dim=-1).argmax()) + 1
    ch_b = int(vals[unit_b][0].sum(dim=-1).argmax()) + 1
    pos_b = int(vals[unit_b][0, ch_b - 1].argmax()) + 1
    seeds = []
    R = torch.zeros_like(vals[unit_a])
    R[:, ch_a - 1] = vals[unit_a][:, ch_a - 1]
    seeds.append(({"type": "all", "node": unit_a, "channel": ch_a}, unit_a, R, None))
    R = torch.zeros_like(vals[unit_b])
    R[:, ch_b - 1, pos_b - 1] = vals[unit_b][:, ch_b - 1, pos_b - 1]
    seeds.append(({"type": "node", "node": unit_b, "channel": ch_b, "position": pos_b},
                  unit_b, R, None))
    seeds.append(({"type": "class", "class": mf.IntVec(classes)}, n_out, R_cls, None))
    seeds.append(({"type": "class_filter", "class": mf.IntVec(classes), "node": unit_a,
                   "channel": ch_a}, n_out, R_cls.clone(), (unit_a, ch_a)))
    return seeds


def make_one(name, outdir):
    builder, n_all, seed = mf.NETWORKS[name]
    torch.manual_seed(seed)
    with torch.no_grad():
        net, _ = builder()
        x = torch.randn(n_all, *net.input_dim)
    n_use, comps, unit_a, unit_b = PLAN[name]
    x = x[:n_use]
    g = Graph(net)
    with torch.no_grad():
        outs = net.forward(x)
    vals = {0: x}
    for i, o in enumerate(outs, 1):
        vals[i] = o
    n_cls = outs[-1].shape[1]
    classes = [(s % n_cls) + 1 for s in range(n_use)]
    n_out = len(net.layers)
    with torch.no_grad():
        logits = g.pre_activation(n_out, vals)
    R_cls = torch.zeros_like(logits)
    for s, k in enumerate(classes):
        R_cls[s, k - 1] = logits[s, k - 1]
    if unit_a is None:
        # no interpretable layers: the class seed only
        seeds = [({"type": "class", "class": mf.IntVec(classes)}, n_out, R_cls, None)]
        unit_a = unit_b = ch_a = ch_b = pos_b = 0
    else:
        seeds = unit_seeds(vals, unit_a, unit_b, classes, n_out, R_cls)
        ch_a, ch_b, pos_b = (seeds[0][0]["channel"], seeds[1][0]["channel"],
                             seeds[1][0]["position"])

    cases = []
    for cname in comps:
        c = COMPOSITES[cname]
        for sd, node, Rs, filt in seeds:
            rel = g.lrp(x, c, node, Rs.clone(), filt)
            rules = dict(c)
            cases.append({"composite": cname, "rules": rules, "seed": sd,
                          "relevance": rel.detach()})
    fixture = {"name": name, "n": n_use, "output": outs[-1], "cases": cases,
               "info": {"generator": "tools/make_relevance_fixtures.py",
                        "torch_version": torch.__version__}}
    path = os.path.join(outdir, name + ".txt.gz")
    mf.write_fixture(path, fixture)
    print("%-10s n=%d cases=%d unit_a=%d/%d unit_b=%d/%d@%d size=%d bytes"
          % (name, n_use, len(cases), unit_a, ch_a, unit_b, ch_b, pos_b,
             os.path.getsize(path)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "tests", "testthat", "fixtures", "relevance")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--only", nargs="*", choices=sorted(PLAN))
    args = ap.parse_args()
    for name in (args.only or list(PLAN)):
        make_one(name, args.out)


if __name__ == "__main__":
    main()
