#!/usr/bin/python3
"""Reference fixtures for cphap, computed with PyTorch in float64.

Development-time tool only: cphap never needs PyTorch to build, run or test.

For each network below the script draws random (seeded) parameters, exports the
network to cphap's plain-list format (innsight-compatible, see list-format.md),
runs a batch of standard-normal inputs through it layer by layer, and writes
one gzip-compressed text file tests/testthat/fixtures/<name>.txt.gz whose
content is a single R expression evaluating to

    list(name, model, x, layer_outputs, output, info)

Read it in R with

    eval(parse(file = gzfile(path), keep.source = FALSE))

Every double is written as an exact C99 hexadecimal float literal, every array
in column-major (Fortran) order with its dim, every integer with an L suffix.

Besides the layer-by-layer evaluation of the exported list (which is what the
fixture records), each network is also written once as ordinary PyTorch code
(nn.Sequential / nn.Module, torch's own padding='same', nn.Dropout in eval
mode, ...) sharing the same parameter tensors; the script stops if the two
disagree, so the wiring of the exported list (input_layers, output_layers,
padding, ...) is checked against an independent description of the network.

Usage:  /usr/bin/python3 tools/make_fixtures.py [--out DIR] [--only NAME ...]
"""

import argparse
import gzip
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
# torch warns that padding='same' with an even kernel copies the input; harmless.
warnings.filterwarnings("ignore", message="Using padding='same'")


# --------------------------------------------------------------------------
# Writing R source text
# --------------------------------------------------------------------------

class IntVec(list):
    """A vector of R integers (written with the L suffix)."""


def hexfloat(v):
    """Exact hexadecimal literal of a double, trailing zero digits dropped."""
    v = float(v)
    if not math.isfinite(v):
        raise ValueError("non-finite value %r in a fixture" % v)
    if v == 0.0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    mant, exp = v.hex().split("p")
    if "." in mant:
        mant = mant.rstrip("0")
        if mant.endswith("."):
            mant += "0"
    return mant + "p" + exp


def _dbl_c(values, per_line=6):
    items = [hexfloat(v) for v in values]
    if not items:
        return "double(0)"
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "c(" + ",\n".join(lines) + ")"


def _int_c(values):
    items = ["%dL" % int(v) for v in values]
    if len(items) == 1:
        return items[0]
    return "c(" + ", ".join(items) + ")"


def to_r(obj):
    """Python description -> R source text.

    str -> character, bool -> logical, int -> integer, float -> double,
    IntVec -> integer vector, 1-d ndarray/tensor -> double vector,
    >=2-d ndarray/tensor -> array(c(...), dim = c(...)) in column-major order,
    dict -> named list (in insertion order), list -> unnamed list.
    """
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, bool):
        return "TRUE" if obj else "FALSE"
    if isinstance(obj, IntVec):
        return _int_c(obj)
    if isinstance(obj, (int, np.integer)):
        return "%dL" % int(obj)
    if isinstance(obj, (float, np.floating)):
        return hexfloat(obj)
    if isinstance(obj, str):
        return '"' + obj.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(obj, np.ndarray):
        a = np.asarray(obj, dtype=np.float64)
        if a.ndim == 1:
            return _dbl_c(a.tolist())
        return ("array(" + _dbl_c(a.flatten(order="F").tolist()) +
                ", dim = " + _int_c(a.shape) + ")")
    if isinstance(obj, dict):
        parts = ["%s = %s" % (k, to_r(v)) for k, v in obj.items()]
        return "list(\n" + ",\n".join(parts) + ")"
    if isinstance(obj, list):
        return "list(\n" + ",\n".join(to_r(v) for v in obj) + ")"
    raise TypeError("cannot write %r to R" % type(obj))


def write_fixture(path, obj):
    text = to_r(obj) + "\n"
    # mtime = 0 and no file name in the header: identical input, identical bytes.
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9,
                           mtime=0) as gz:
            gz.write(text.encode("ascii"))


# --------------------------------------------------------------------------
# Activations (as cphap / innsight name them)
# --------------------------------------------------------------------------

LEAKY_SLOPE = 0.01


def softplus_exact(x):
    # log(1 + exp(x)) without torch's F.softplus threshold (which returns x
    # itself for x > 20); stable for any x.
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": softplus_exact,
    "softmax": lambda x: torch.softmax(x, dim=1),  # over the features of [n, f]
}


# --------------------------------------------------------------------------
# Random parameters (drawn from torch's global RNG, seeded per network)
# --------------------------------------------------------------------------

def draw_weight(shape, fan_in, gain):
    # Kaiming-like: gain 2 ahead of a ReLU-like unit, 1 otherwise.
    w = torch.randn(*shape) * math.sqrt(gain / fan_in)
    if fan_in >= 8:
        # Centre each output unit's weights: after a ReLU or a pooling of one
        # the inputs are all positive, and an uncentred random unit then sits
        # mostly above or mostly below zero, leaving many channels dead on
        # every sample. Centred, the pre-activation is about bias +- noise.
        w = w - w.reshape(shape[0], -1).mean(dim=1).reshape(
            (shape[0],) + (1,) * (len(shape) - 1))
    return w


def draw_bias(n, scale=0.25):
    return torch.randn(n) * scale


GAIN = {"relu": 2.0, "leaky_relu": 2.0, "linear": 1.0, "tanh": 1.0,
        "sigmoid": 1.0, "softplus": 1.0, "softmax": 1.0}


# --------------------------------------------------------------------------
# A network as a list of layers, each evaluated with torch
# --------------------------------------------------------------------------

class Net:
    def __init__(self, name, input_dim):
        self.name = name
        self.input_dim = tuple(input_dim)
        self.layers = []   # dicts: spec (R fields), fn, inputs (1-based, 0 = input)
        self.params = {}   # named tensors, for the plain-torch cross-check

    def add(self, spec, fn, inputs=None, key=None, params=None):
        if inputs is None:
            inputs = [len(self.layers)]  # the previous layer (0 = model input)
        for j in inputs:
            assert 0 <= j <= len(self.layers), "inputs must come first"
        self.layers.append({"spec": spec, "fn": fn, "inputs": list(inputs)})
        if key is not None:
            self.params[key] = params
        return len(self.layers)

    # ---- layer constructors; each returns the new layer's 1-based index

    def conv(self, cin, cout, k, act="relu", stride=1, dilation=1, pad=(0, 0),
             inputs=None, key=None):
        w = draw_weight((cout, cin, k), cin * k, GAIN[act])
        b = draw_bias(cout)
        pl, pr = pad
        f = ACTIVATIONS[act]

        def fn(x):
            if pl or pr:
                x = F.pad(x, (pl, pr))
            return f(F.conv1d(x, w, b, stride=stride, padding=0, dilation=dilation))

        spec = {"type": "Conv1D", "weight": w, "bias": b, "activation_name": act,
                "stride": stride, "padding": IntVec([pl, pr]), "dilation": dilation}
        return self.add(spec, fn, inputs, key, {"w": w, "b": b})

    def dense(self, fin, fout, act, inputs=None, key=None):
        w = draw_weight((fout, fin), fin, GAIN[act])
        b = draw_bias(fout)
        f = ACTIVATIONS[act]
        spec = {"type": "Dense", "weight": w, "bias": b, "activation_name": act}
        return self.add(spec, lambda x: f(F.linear(x, w, b)), inputs, key,
                        {"w": w, "b": b})

    def batchnorm(self, c, eps, inputs=None, key=None):
        # Random statistics; calibrate_batchnorm() later moves them near the
        # statistics of the data a trained network would have seen.
        gamma = 0.5 + torch.rand(c)            # U(0.5, 1.5)
        beta = torch.randn(c) * 0.2
        run_mean = torch.randn(c) * 0.3
        run_var = 0.5 + 1.5 * torch.rand(c)    # U(0.5, 2.0), positive
        spec = {"type": "BatchNorm", "num_features": c, "eps": float(eps),
                "gamma": gamma, "beta": beta, "run_mean": run_mean,
                "run_var": run_var}

        def fn(x):
            return F.batch_norm(x, run_mean, run_var, gamma, beta,
                                training=False, eps=eps)
        return self.add(spec, fn, inputs, key,
                        {"gamma": gamma, "beta": beta, "mean": run_mean,
                         "var": run_var, "eps": eps})

    def activation(self, act, inputs=None):
        return self.add({"type": "Activation", "act_name": act},
                        ACTIVATIONS[act], inputs)

    def maxpool(self, k, s, inputs=None):
        return self.add({"type": "MaxPooling1D", "kernel_size": k, "strides": s},
                        lambda x: F.max_pool1d(x, k, s), inputs)

    def avgpool(self, k, s, inputs=None):
        return self.add({"type": "AveragePooling1D", "kernel_size": k, "strides": s},
                        lambda x: F.avg_pool1d(x, k, s), inputs)

    def global_pool(self, method, inputs=None):
        fn = {"average": lambda x: x.mean(dim=2),
              "max": lambda x: x.amax(dim=2)}[method]
        return self.add({"type": "GlobalPooling", "method": method}, fn, inputs)

    def flatten(self, inputs=None):
        return self.add({"type": "Flatten"}, lambda x: torch.flatten(x, 1), inputs)

    def skipping(self, rate, inputs=None):
        drop = nn.Dropout(rate).eval()   # identity at inference
        return self.add({"type": "Skipping", "rate": float(rate)}, drop, inputs)

    def padding(self, left, right, inputs=None):
        return self.add({"type": "Padding", "padding": IntVec([left, right]),
                         "mode": "constant", "value": 0.0},
                        lambda x: F.pad(x, (left, right)), inputs)

    def add_layer(self, inputs):
        def fn(*xs):
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return out
        return self.add({"type": "Add"}, fn, inputs)

    # ---- wiring, evaluation, export

    def wiring(self):
        n = len(self.layers)
        outs = [[] for _ in range(n)]
        for i, lay in enumerate(self.layers, start=1):
            for j in lay["inputs"]:
                if j > 0:
                    outs[j - 1].append(i)
        outs = [o if o else [-1] for o in outs]
        input_nodes = [i for i, lay in enumerate(self.layers, start=1)
                       if 0 in lay["inputs"]]
        output_nodes = [i for i, o in enumerate(outs, start=1) if o == [-1]]
        return outs, input_nodes, output_nodes

    def calibrate_batchnorm(self, xcal):
        """Set each BatchNorm's running statistics to those of its input on a
        calibration batch, randomly perturbed (mean shifted by N(0, 0.1^2)
        standard deviations, variance scaled by U(0.6, 1.6)). Without this,
        purely random statistics leave many ReLU channels dead on every
        sample."""
        vals = {0: xcal}
        for i, lay in enumerate(self.layers, start=1):
            ins = [vals[j] for j in lay["inputs"]]
            spec = lay["spec"]
            if spec["type"] == "BatchNorm":
                h = ins[0]
                m = h.mean(dim=(0, 2))
                v = h.var(dim=(0, 2), unbiased=False)
                c = m.numel()
                spec["run_mean"].copy_(m + 0.1 * torch.randn(c) * v.sqrt())
                spec["run_var"].copy_(v * (0.6 + torch.rand(c)))
            vals[i] = lay["fn"](*ins)

    def calibrate_bias(self, i, xcal):
        """Set the bias of Dense layer i so that each unit's pre-activation is
        zero at a random quantile (between 0.3 and 0.7) of a calibration batch:
        a ReLU unit is then active on some samples and inactive on others."""
        spec = self.layers[i - 1]["spec"]
        assert spec["type"] == "Dense"
        vals = {0: xcal}
        for j, lay in enumerate(self.layers[:i - 1], start=1):
            vals[j] = lay["fn"](*[vals[k] for k in lay["inputs"]])
        h = vals[self.layers[i - 1]["inputs"][0]]
        pre = F.linear(h, spec["weight"])
        q = 0.3 + 0.4 * torch.rand(pre.shape[1])
        b = torch.stack([torch.quantile(pre[:, u], q[u]) for u in range(pre.shape[1])])
        spec["bias"].copy_(-b)

    def forward(self, x):
        vals = {0: x}
        for i, lay in enumerate(self.layers, start=1):
            vals[i] = lay["fn"](*[vals[j] for j in lay["inputs"]])
        return [vals[i] for i in range(1, len(self.layers) + 1)]

    def to_list(self):
        outs, input_nodes, output_nodes = self.wiring()
        layers = []
        for lay, o in zip(self.layers, outs):
            spec = dict(lay["spec"])
            spec["input_layers"] = IntVec(lay["inputs"])
            spec["output_layers"] = IntVec(o)
            layers.append(spec)
        return {"input_dim": IntVec(self.input_dim),
                "input_nodes": IntVec(input_nodes),
                "output_nodes": IntVec(output_nodes),
                "layers": layers}


# --------------------------------------------------------------------------
# The networks; each builder returns (Net, plain_torch_forward)
# --------------------------------------------------------------------------

def copy_conv(m, p):
    with torch.no_grad():
        m.weight.copy_(p["w"])
        m.bias.copy_(p["b"])
    return m


def copy_bn(m, p):
    with torch.no_grad():
        m.weight.copy_(p["gamma"])
        m.bias.copy_(p["beta"])
        m.running_mean.copy_(p["mean"])
        m.running_var.copy_(p["var"])
    m.eps = p["eps"]
    return m.eval()


def build_paper_cnn():
    net = Net("paper_cnn", (1, 945))
    net.conv(1, 32, 15, "relu", stride=2, key="c1")
    net.maxpool(8, 4)
    net.conv(32, 64, 11, "relu", key="c2")
    net.maxpool(4, 2)
    net.conv(64, 128, 7, "relu", key="c3")
    net.maxpool(4, 2)
    net.skipping(0.5)
    net.flatten()
    net.dense(128 * 21, 8, "softmax", key="d")
    P = net.params

    seq = nn.Sequential(
        copy_conv(nn.Conv1d(1, 32, 15, stride=2), P["c1"]), nn.ReLU(),
        nn.MaxPool1d(8, stride=4),
        copy_conv(nn.Conv1d(32, 64, 11), P["c2"]), nn.ReLU(),
        nn.MaxPool1d(4, stride=2),
        copy_conv(nn.Conv1d(64, 128, 7), P["c3"]), nn.ReLU(),
        nn.MaxPool1d(4, stride=2),
        nn.Dropout(0.5), nn.Flatten(),
        copy_conv(nn.Linear(128 * 21, 8), P["d"]), nn.Softmax(dim=1)).eval()
    return net, seq


def build_fcn():
    net = Net("fcn", (2, 60))
    eps = 1e-5                                # torch's default
    spec = [(2, 16, 8, (3, 4)), (16, 32, 5, (2, 2)), (32, 16, 3, (1, 1))]
    for i, (cin, cout, k, pad) in enumerate(spec):
        net.conv(cin, cout, k, "linear", pad=pad, key="c%d" % i)
        net.batchnorm(cout, eps, key="bn%d" % i)
        net.activation("relu")
    net.global_pool("average")
    net.dense(16, 3, "softmax", key="d")
    net.calibrate_batchnorm(torch.randn(32, *net.input_dim))
    P = net.params

    mods = []
    for i, (cin, cout, k, _) in enumerate(spec):
        mods += [copy_conv(nn.Conv1d(cin, cout, k, padding="same"), P["c%d" % i]),
                 copy_bn(nn.BatchNorm1d(cout), P["bn%d" % i]), nn.ReLU()]
    mods += [nn.AdaptiveAvgPool1d(1), nn.Flatten(),
             copy_conv(nn.Linear(16, 3), P["d"]), nn.Softmax(dim=1)]
    return net, nn.Sequential(*mods).eval()


class ResBlock(nn.Module):
    """Wang, Yan & Oates (2017) residual block, torch's padding='same'."""

    def __init__(self, cin, cout, P, tag):
        super().__init__()
        self.c1 = copy_conv(nn.Conv1d(cin, cout, 8, padding="same"), P[tag + "c1"])
        self.b1 = copy_bn(nn.BatchNorm1d(cout), P[tag + "b1"])
        self.c2 = copy_conv(nn.Conv1d(cout, cout, 5, padding="same"), P[tag + "c2"])
        self.b2 = copy_bn(nn.BatchNorm1d(cout), P[tag + "b2"])
        self.c3 = copy_conv(nn.Conv1d(cout, cout, 3, padding="same"), P[tag + "c3"])
        self.b3 = copy_bn(nn.BatchNorm1d(cout), P[tag + "b3"])
        self.sc = (copy_conv(nn.Conv1d(cin, cout, 1), P[tag + "sc"])
                   if cin != cout else nn.Identity())
        self.sb = copy_bn(nn.BatchNorm1d(cout), P[tag + "sb"])

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = F.relu(self.b2(self.c2(h)))
        h = self.b3(self.c3(h))
        return F.relu(h + self.sb(self.sc(x)))


class ResNet(nn.Module):
    """Two residual blocks, global average pooling, dense softmax; with
    drop_in, dropout on the input that both branches of block 1 read."""

    def __init__(self, P, cin=1, cout=8, n_out=4, drop_in=None):
        super().__init__()
        self.drop = nn.Dropout(drop_in) if drop_in is not None else nn.Identity()
        self.block1 = ResBlock(cin, cout, P, "r1")
        self.block2 = ResBlock(cout, cout, P, "r2")
        self.fc = copy_conv(nn.Linear(cout, n_out), P["d"])

    def forward(self, x):
        h = self.block2(self.block1(self.drop(x)))
        return torch.softmax(self.fc(h.mean(dim=2)), dim=1)


def resnet_net(name, input_dim, cout, n_out, drop_in=None):
    net = Net(name, input_dim)
    eps = 1e-3                                # Keras' default, to exercise eps

    def block(inp, cin, cout, tag):
        h = net.conv(cin, cout, 8, "linear", pad=(3, 4), inputs=[inp], key=tag + "c1")
        h = net.batchnorm(cout, eps, key=tag + "b1")
        h = net.activation("relu")
        h = net.conv(cout, cout, 5, "linear", pad=(2, 2), key=tag + "c2")
        h = net.batchnorm(cout, eps, key=tag + "b2")
        h = net.activation("relu")
        h = net.conv(cout, cout, 3, "linear", pad=(1, 1), key=tag + "c3")
        main = net.batchnorm(cout, eps, key=tag + "b3")
        s = inp
        if cin != cout:
            s = net.conv(cin, cout, 1, "linear", inputs=[inp], key=tag + "sc")
        short = net.batchnorm(cout, eps, inputs=[s], key=tag + "sb")
        a = net.add_layer([main, short])
        return net.activation("relu", inputs=[a])

    # innsight starts a shortcut at the input with a Skipping layer that
    # both branches read
    h = net.skipping(drop_in) if drop_in is not None else 0
    h = block(h, input_dim[0], cout, "r1")
    h = block(h, cout, cout, "r2")
    net.global_pool("average")
    net.dense(cout, n_out, "softmax", key="d")
    net.calibrate_batchnorm(torch.randn(32, *net.input_dim))
    return net, ResNet(net.params, input_dim[0], cout, n_out, drop_in).eval()


def build_resnet():
    return resnet_net("resnet", (1, 50), 8, 4)


def build_resnet_skip():
    return resnet_net("resnet_skip", (2, 48), 6, 3, drop_in=0.2)


def build_dropout_cnn():
    """Input dropout, a linear activation and padding between the input and
    the first convolution: it still reads the input."""
    net = Net("dropout_cnn", (2, 40))
    net.skipping(0.2)
    net.activation("linear")
    net.padding(2, 1)
    net.conv(2, 5, 4, "relu", key="c1")
    net.maxpool(2, 2)
    net.conv(5, 6, 3, "relu", key="c2")
    net.skipping(0.5)
    net.flatten()
    net.dense(6 * 18, 3, "softmax", key="d")
    P = net.params
    seq = nn.Sequential(
        nn.Dropout(0.2), nn.Identity(), nn.ConstantPad1d((2, 1), 0.0),
        copy_conv(nn.Conv1d(2, 5, 4), P["c1"]), nn.ReLU(), nn.MaxPool1d(2, 2),
        copy_conv(nn.Conv1d(5, 6, 3), P["c2"]), nn.ReLU(),
        nn.Dropout(0.5), nn.Flatten(),
        copy_conv(nn.Linear(6 * 18, 3), P["d"]), nn.Softmax(dim=1)).eval()
    return net, seq


def build_dropout_mlp():
    """Dense layers only, the first reading the input through dropout and
    flattening."""
    net = Net("dropout_mlp", (1, 20))
    net.skipping(0.25)
    net.flatten()
    net.dense(20, 8, "relu", key="d1")
    net.skipping(0.5)
    net.dense(8, 3, "softmax", key="d2")
    P = net.params
    seq = nn.Sequential(
        nn.Dropout(0.25), nn.Flatten(), copy_conv(nn.Linear(20, 8), P["d1"]), nn.ReLU(),
        nn.Dropout(0.5), copy_conv(nn.Linear(8, 3), P["d2"]), nn.Softmax(dim=1)).eval()
    return net, seq


def build_odd():
    net = Net("odd", (3, 40))
    net.conv(3, 5, 4, "linear", stride=1, dilation=2, pad=(3, 1), key="c1")
    net.activation("tanh")
    net.conv(5, 6, 3, "leaky_relu", stride=3, key="c2")
    net.avgpool(3, 2)
    net.conv(6, 4, 2, "softplus", key="c3")
    net.activation("sigmoid")
    net.global_pool("max")
    d1 = net.dense(4, 5, "relu", key="d1")
    net.dense(5, 2, "linear", key="d2")
    # Its inputs are maxima of sigmoids of softplus values, all in [0.5, 1):
    # with a random bias most of d1's ReLU units would be dead on every sample.
    net.calibrate_bias(d1, torch.randn(64, *net.input_dim))
    P = net.params

    c1 = copy_conv(nn.Conv1d(3, 5, 4, dilation=2), P["c1"])
    c2 = copy_conv(nn.Conv1d(5, 6, 3, stride=3), P["c2"])
    c3 = copy_conv(nn.Conv1d(6, 4, 2), P["c3"])
    d1 = copy_conv(nn.Linear(4, 5), P["d1"])
    d2 = copy_conv(nn.Linear(5, 2), P["d2"])
    # torch's own softplus (beta 1, threshold raised so it is never linearised)
    sp = nn.Softplus(beta=1.0, threshold=1e6)

    def plain(x):
        h = torch.tanh(c1(nn.ConstantPad1d((3, 1), 0.0)(x)))
        h = nn.LeakyReLU(0.01)(c2(h))
        h = nn.AvgPool1d(3, stride=2)(h)
        h = torch.sigmoid(sp(c3(h)))
        h = nn.AdaptiveMaxPool1d(1)(h).flatten(1)
        return d2(F.relu(d1(h)))
    return net, plain


def build_valid_cnn():
    net = Net("valid_cnn", (2, 30))
    net.conv(2, 4, 5, "relu", key="c1")
    net.maxpool(2, 2)
    net.conv(4, 3, 3, "relu", dilation=2, key="c2")
    net.avgpool(3, 1)
    net.flatten()
    net.dense(3 * 7, 2, "softmax", key="d")
    P = net.params
    seq = nn.Sequential(
        copy_conv(nn.Conv1d(2, 4, 5), P["c1"]), nn.ReLU(), nn.MaxPool1d(2, 2),
        copy_conv(nn.Conv1d(4, 3, 3, dilation=2), P["c2"]), nn.ReLU(),
        nn.AvgPool1d(3, stride=1), nn.Flatten(),
        copy_conv(nn.Linear(21, 2), P["d"]), nn.Softmax(dim=1)).eval()
    return net, seq


# name -> (builder, number of samples, seed)
NETWORKS = {
    "paper_cnn": (build_paper_cnn, 3, 101),
    "fcn": (build_fcn, 3, 102),
    "resnet": (build_resnet, 3, 103),
    "odd": (build_odd, 4, 104),
    "valid_cnn": (build_valid_cnn, 3, 105),
    "dropout_cnn": (build_dropout_cnn, 3, 106),
    "resnet_skip": (build_resnet_skip, 3, 107),
    "dropout_mlp": (build_dropout_mlp, 3, 108),
}


# --------------------------------------------------------------------------

def same_padding_split():
    """How torch's padding='same' splits an even total: returns (left, right)."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, 20)
    res = {}
    for k in (8, 5, 3):
        m = nn.Conv1d(1, 1, k, padding="same", bias=False)
        y = m(x)
        for left in range(k):
            y2 = F.conv1d(F.pad(x, (left, k - 1 - left)), m.weight)
            if torch.equal(y, y2):
                res[k] = (left, k - 1 - left)
    return res


def make_one(name, outdir):
    builder, n, seed = NETWORKS[name]
    torch.manual_seed(seed)
    with torch.no_grad():
        net, plain = builder()
        x = torch.randn(n, *net.input_dim)
        outs = net.forward(x)
        ref = plain(x)

    out = outs[-1]
    _, _, output_nodes = net.wiring()
    assert output_nodes == [len(net.layers)], output_nodes
    diff = (out - ref).abs().max().item()
    scale = ref.abs().max().item()
    if not diff <= 1e-13 * max(scale, 1.0):
        sys.exit("%s: layer-list forward and plain torch model differ by %g" %
                 (name, diff))

    # Report signs of a degenerate fixture (dead ReLU channels, saturation).
    notes = []
    for i, (lay, y) in enumerate(zip(net.layers, outs), start=1):
        s = lay["spec"]
        act = s.get("activation_name", s.get("act_name"))
        if act == "relu" and y.dim() == 3:
            dead = int((y.amax(dim=(0, 2)) <= 0).sum())
            if dead:
                notes.append("layer %d: %d of %d channels zero on every sample"
                             % (i, dead, y.shape[1]))
    if net.layers[-1]["spec"].get("activation_name") == "softmax":
        notes.append("softmax range [%.3g, %.3g]" % (out.min().item(), out.max().item()))

    fixture = {
        "name": name,
        "model": net.to_list(),
        "x": x,
        "layer_outputs": list(outs),
        "output": out,
        "info": {"generator": "tools/make_fixtures.py",
                 "torch_version": torch.__version__,
                 "seed": seed,
                 "dtype": "float64",
                 "leaky_relu_slope": LEAKY_SLOPE,
                 "max_abs_diff_plain_torch": diff},
    }
    path = os.path.join(outdir, name + ".txt.gz")
    write_fixture(path, fixture)
    print("%-10s n=%d layers=%2d out=%s diff(plain torch)=%.2g size=%d bytes"
          % (name, n, len(net.layers), tuple(out.shape), diff, os.path.getsize(path)))
    for s in notes:
        print("           " + s)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "tests", "testthat", "fixtures")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--only", nargs="*", choices=sorted(NETWORKS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    split = same_padding_split()
    print("torch %s; padding='same' splits as (left, right): %s" %
          (torch.__version__, split))
    assert split == {8: (3, 4), 5: (2, 2), 3: (1, 1)}, split

    for name in (args.only or list(NETWORKS)):
        make_one(name, args.out)


if __name__ == "__main__":
    main()
