#!/usr/bin/python3
"""ONNX fixtures for cphap: real PyTorch modules exported with torch.onnx.export.

Development-time tool only: cphap never needs PyTorch or onnx to build, run or
test. For each network below the script builds an ordinary nn.Module with
seeded random parameters, exports it with torch.onnx.export in float32 and in
float64 at opsets 11, 13 and 17, and writes

    tests/testthat/fixtures/onnx/<net>_<dtype>_op<opset>.onnx
    tests/testthat/fixtures/onnx/<net>_<dtype>.txt.gz   (expected values)

The .txt.gz file is one R expression (the format of tools/make_fixtures.py:
exact hexadecimal doubles, column-major arrays with their dim) evaluating to a
list with the inputs, PyTorch's outputs and the activations of every
interpretable layer (block outputs: after the non-linearity, after the
pooling when the block pools; residual block outputs), named as cphap names
them (conv1, conv2, ..., res1, ...). See tools/README.md.

Every exported file is evaluated again, independently of PyTorch, by the
NumPy evaluator in tools/onnx_numpy.py; the script stops unless the graph's
output equals PyTorch's and unless every recorded activation is found as a
tensor of the graph (its name is recorded too).

Usage:  /usr/bin/python3 tools/make_onnx_fixtures.py [--out DIR] [--only NAME ...]
"""

import argparse
import copy
import io
import math
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import IntVec, draw_bias, draw_weight, write_fixture  # noqa: E402
import onnx_numpy  # noqa: E402

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
warnings.filterwarnings("ignore")  # exporter chatter (constant folding, training mode)

OPSETS = (11, 13, 17)
DTYPES = ("float32", "float64")
EVAL = torch.onnx.TrainingMode.EVAL
PRESERVE = torch.onnx.TrainingMode.PRESERVE
TRAINING = torch.onnx.TrainingMode.TRAINING


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------

def init_params(module, gain=2.0):
    """Conv / Linear: Kaiming-like centred weights and N(0, 0.25^2) biases
    (as tools/make_fixtures.py draws them); BatchNorm: gamma U(0.5, 1.5),
    beta N(0, 0.2^2) (running statistics: see calibrate_bn)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(draw_weight(tuple(m.weight.shape), fan_in, gain))
                m.bias.copy_(draw_bias(m.bias.numel()))
            elif isinstance(m, nn.BatchNorm1d):
                m.weight.copy_(0.5 + torch.rand(m.num_features))
                m.bias.copy_(torch.randn(m.num_features) * 0.2)


def calibrate_bn(module, xcal):
    """Running statistics of every BatchNorm from a calibration batch
    (cumulative average over one batch = that batch's statistics), then
    perturbed: mean shifted by N(0, 0.1^2) sds, variance times U(0.6, 1.6)."""
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm1d)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    module.train()
    with torch.no_grad():
        module(xcal)
        for m in bns:
            c = m.num_features
            sd = m.running_var.sqrt()
            m.running_mean.add_(0.1 * torch.randn(c) * sd)
            m.running_var.mul_(0.6 + torch.rand(c))
            m.momentum = 0.1
    module.eval()


# --------------------------------------------------------------------------
# The networks. Each forward() records its interpretable activations in
# self.acts under cphap's names (recording is plain Python: the exporter's
# trace ignores it).
# --------------------------------------------------------------------------

class PaperCNN(nn.Module):
    """The paper's CNN layout (kernels 15/11/7, first stride 2, max pooling
    8/4, 4/2, 4/2, dropout, flatten, dense) with 8/16/32 channels instead of
    32/64/128 and series of length 400, to keep the files small. Valid
    padding, as cphap's arch_cnn() by default. Ends with logits."""
    input_dim = (1, 400)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 15, stride=2)
        self.p1 = nn.MaxPool1d(8, 4)
        self.c2 = nn.Conv1d(8, 16, 11)
        self.p2 = nn.MaxPool1d(4, 2)
        self.c3 = nn.Conv1d(16, 32, 7)
        self.p3 = nn.MaxPool1d(4, 2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(32 * 4, 3)
        self.acts = {}

    def forward(self, x):
        h = self.acts["conv1"] = self.p1(F.relu(self.c1(x)))
        h = self.acts["conv2"] = self.p2(F.relu(self.c2(h)))
        h = self.acts["conv3"] = self.p3(F.relu(self.c3(h)))
        return self.fc(torch.flatten(self.drop(h), 1))


class FCN(nn.Module):
    """FCN of Wang et al. (2017), small: 3 x [Conv -> BatchNorm -> ReLU]
    ('same' padding: an explicit ConstantPad1d (3, 4) for the even kernel,
    as torch's padding='same' cannot be exported), global average pooling,
    dense, softmax. The last batch norm has eps 2^-10 (not torch's default
    1e-5, so that a reader that ignores epsilon fails; ONNX stores epsilon as
    a float32 attribute, and 2^-10 is exact in float32, so the float64 file
    still means what PyTorch computed to ~1e-15). Exported with training=PRESERVE so that the
    BatchNormalization nodes are kept (an EVAL export folds them into the
    convolutions)."""
    input_dim = (2, 60)
    export_mode = PRESERVE

    def __init__(self):
        super().__init__()
        self.pad = nn.ConstantPad1d((3, 4), 0.0)
        self.c1 = nn.Conv1d(2, 8, 8)
        self.b1 = nn.BatchNorm1d(8)
        self.c2 = nn.Conv1d(8, 16, 5, padding=2)
        self.b2 = nn.BatchNorm1d(16)
        self.c3 = nn.Conv1d(16, 8, 3, padding=1)
        self.b3 = nn.BatchNorm1d(8, eps=2.0 ** -10)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(8, 3)
        self.acts = {}

    def forward(self, x):
        h = self.acts["conv1"] = F.relu(self.b1(self.c1(self.pad(x))))
        h = self.acts["conv2"] = F.relu(self.b2(self.c2(h)))
        h = self.acts["conv3"] = F.relu(self.b3(self.c3(h)))
        return torch.softmax(self.fc(torch.flatten(self.gap(h), 1)), dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.pad = nn.ConstantPad1d((3, 4), 0.0)
        self.c1 = nn.Conv1d(cin, cout, 8)
        self.b1 = nn.BatchNorm1d(cout)
        self.c2 = nn.Conv1d(cout, cout, 5, padding=2)
        self.b2 = nn.BatchNorm1d(cout)
        self.c3 = nn.Conv1d(cout, cout, 3, padding=1)
        self.b3 = nn.BatchNorm1d(cout)
        self.sc = nn.Conv1d(cin, cout, 1) if cin != cout else None
        self.sb = nn.BatchNorm1d(cout)

    def forward(self, x, acts, names):
        h = acts[names[0]] = F.relu(self.b1(self.c1(self.pad(x))))
        h = acts[names[1]] = F.relu(self.b2(self.c2(h)))
        h = self.b3(self.c3(h))
        s = self.sb(self.sc(x) if self.sc is not None else x)
        out = acts[names[2]] = F.relu(h + s)
        return out


class ResNet(nn.Module):
    """Two residual blocks of Wang et al. (2017); the first block's shortcut
    (1x1 convolution and batch norm) starts at the model input, the second's
    is a batch norm alone. Default (EVAL) export: batch norms that follow a
    convolution are folded into it; the second shortcut's stays a
    BatchNormalization node."""
    input_dim = (1, 50)

    def __init__(self):
        super().__init__()
        self.block1 = ResBlock(1, 8)
        self.block2 = ResBlock(8, 8)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(8, 4)
        self.acts = {}

    def forward(self, x):
        # cphap numbers convolutions in order: block 1 has conv1-3 and the
        # shortcut conv4, block 2 conv5-7.
        h = self.block1(x, self.acts, ("conv1", "conv2", "res1"))
        h = self.block2(h, self.acts, ("conv5", "conv6", "res2"))
        return self.fc(torch.flatten(self.gap(h), 1))


class Strided(nn.Module):
    """Dilation 2 with asymmetric padding (ConstantPad1d (3, 1)), stride 3
    with symmetric padding 1, average pooling 3/2, dilation 3, average
    pooling 2/1, flatten, dense."""
    input_dim = (3, 40)

    def __init__(self):
        super().__init__()
        self.pad = nn.ConstantPad1d((3, 1), 0.0)
        self.c1 = nn.Conv1d(3, 6, 4, dilation=2)
        self.c2 = nn.Conv1d(6, 8, 3, stride=3, padding=1)
        self.a2 = nn.AvgPool1d(3, 2)
        self.c3 = nn.Conv1d(8, 6, 2, dilation=3)
        self.a3 = nn.AvgPool1d(2, 1)
        self.fc = nn.Linear(6 * 2, 2)
        self.acts = {}

    def forward(self, x):
        h = self.acts["conv1"] = F.relu(self.c1(self.pad(x)))
        h = self.acts["conv2"] = self.a2(F.relu(self.c2(h)))
        h = self.acts["conv3"] = self.a3(F.relu(self.c3(h)))
        return self.fc(torch.flatten(h, 1))


class Acts(nn.Module):
    """LeakyReLU (slope 0.125: ONNX stores alpha as float32, and 0.125 is
    exact there, so the float64 file means exactly what PyTorch computed), Tanh, Sigmoid, Softplus, max pooling, dropout
    (0.3 between convolutions, 0.2 between the dense layers), global max
    pooling as a maximum over time (ReduceMax; AdaptiveMaxPool1d(1) would be
    exported as a MaxPool whose kernel spans the series). Exported with training=TRAINING so that the Dropout nodes and
    their ratios are kept (eval-mode exports drop them); there are no batch
    norms, so this changes nothing else. Expected values are eval mode
    (dropout is the identity)."""
    input_dim = (2, 48)
    export_mode = TRAINING
    dropout_rates = (0.3, 0.2)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 6, 5, padding=2)
        self.c2 = nn.Conv1d(6, 6, 3)
        self.p2 = nn.MaxPool1d(2)
        self.c3 = nn.Conv1d(6, 4, 3, padding=1)
        self.d3 = nn.Dropout(0.3)
        self.c4 = nn.Conv1d(4, 4, 3)
        self.fc1 = nn.Linear(4, 5)
        self.d5 = nn.Dropout(0.2)
        self.fc2 = nn.Linear(5, 2)
        self.acts = {}

    def forward(self, x):
        h = self.acts["conv1"] = F.leaky_relu(self.c1(x), 0.125)
        h = self.acts["conv2"] = self.p2(torch.tanh(self.c2(h)))
        h = self.acts["conv3"] = torch.sigmoid(self.c3(h))
        h = self.acts["conv4"] = nn.Softplus()(self.c4(self.d3(h)))
        h = torch.amax(h, dim=2)   # global max pooling (ReduceMax over time)
        return self.fc2(self.d5(torch.tanh(self.fc1(h))))


class ChannelsLast(nn.Module):
    """A channels-last model (input [N, L, C], as Keras and many PyTorch
    pipelines feed it): permute to [N, C, L] first, then Conv + ReLU + max
    pooling, Conv + ReLU, mean over time (ReduceMean), dense."""
    input_dim = (3, 40)
    channels_last = True

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 8, 5, padding=2)
        self.p1 = nn.MaxPool1d(2)
        self.c2 = nn.Conv1d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 3)
        self.acts = {}

    def forward(self, x):
        h = x.permute(0, 2, 1)
        h = self.acts["conv1"] = self.p1(F.relu(self.c1(h)))
        h = self.acts["conv2"] = F.relu(self.c2(h))
        return self.fc(h.mean(dim=2))


# name -> (class, number of samples, seed)
NETWORKS = {
    "paper_cnn": (PaperCNN, 3, 201),
    "fcn": (FCN, 3, 202),
    "resnet": (ResNet, 3, 203),
    "strided": (Strided, 3, 204),
    "acts": (Acts, 4, 205),
    "channels_last": (ChannelsLast, 3, 206),
}


# --------------------------------------------------------------------------

def run_torch(module, x):
    with torch.no_grad():
        module.eval()
        module.acts = {}
        out = module(x)
        return out, {k: v.clone() for k, v in module.acts.items()}


def export(module, x, opset, path):
    module.acts = {}
    f = io.BytesIO()
    torch.onnx.export(module, (x,), f, opset_version=opset,
                      training=getattr(module, "export_mode", EVAL),
                      do_constant_folding=True,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    module.eval()
    module.acts = {}   # drop the traced tensors
    data = f.getvalue()
    with open(path, "wb") as fh:
        fh.write(data)
    return onnx.load_from_string(data)


def rel_diff(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check_graph(model, feed, out, acts, tol, label):
    """Evaluate the exported graph with onnx_numpy; return the names of the
    graph tensors holding each activation."""
    onnx.checker.check_model(model)
    vals = onnx_numpy.run(model, {"input": feed})
    got = vals[model.graph.output[0].name]
    d = rel_diff(got, out)
    if not d <= tol:
        sys.exit("%s: the ONNX graph's output differs from PyTorch's by %g" % (label, d))
    produced = [o for n in model.graph.node for o in n.output if o in vals]
    names = {}
    for k, a in acts.items():
        a = a.numpy()
        hit = [t for t in produced
               if vals[t].shape == a.shape and rel_diff(vals[t], a) <= tol]
        if not hit:
            sys.exit("%s: activation %s is no tensor of the graph" % (label, k))
        names[k] = hit[0]
    return names, d


def reference64(outdir, files, tensors, x, out32):
    refs = []
    for key, fname in files.items():
        model = onnx.load(os.path.join(outdir, fname))
        vals = onnx_numpy.run(model, {"input": x}, upcast=True)
        refs.append({"output": vals[model.graph.output[0].name],
                     "activations": {k: vals[t] for k, t in tensors[key].items()}})
    first = refs[0]
    for r in refs[1:]:
        d = max([rel_diff(r["output"], first["output"])] +
                [rel_diff(r["activations"][k], v) for k, v in first["activations"].items()])
        if not d <= 1e-14:
            sys.exit("float64 evaluations of the opsets' float32 files differ by %g" % d)
    d = rel_diff(first["output"], out32)
    if not d <= 1e-5:
        sys.exit("the float32 file evaluated in float64 is %g from PyTorch's float32 output" % d)
    return first


def ops_of(model):
    seen = []
    for n in model.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


def make_one(name, outdir):
    cls, n, seed = NETWORKS[name]
    torch.manual_seed(seed)
    net = cls()
    init_params(net)
    calibrate_bn(net, torch.randn(32, *cls.input_dim))
    net.eval()
    net.acts = {}
    x64 = torch.randn(n, *cls.input_dim)
    last = getattr(cls, "channels_last", False)
    x64 = x64.to(torch.float32).to(torch.float64)   # inputs exact in float32 too

    def feed(x):   # what the ONNX model is fed
        return x.permute(0, 2, 1).contiguous() if last else x

    for dtype in DTYPES:
        tdt = torch.float32 if dtype == "float32" else torch.float64
        m = copy.deepcopy(net).to(tdt).eval()
        x = x64.to(tdt)
        out, acts = run_torch(m, feed(x))
        fixture = {"name": name, "dtype": dtype}
        files, tensors, ops, diffs = {}, {}, {}, {}
        tol = 1e-5 if dtype == "float32" else 1e-10
        for opset in OPSETS:
            fname = "%s_%s_op%d.onnx" % (name, dtype, opset)
            model = export(m, feed(x), opset, os.path.join(outdir, fname))
            label = "%s (%s, opset %d)" % (name, dtype, opset)
            key = "op%d" % opset
            tensors[key], diffs[key] = check_graph(model, feed(x).numpy(), out.numpy(),
                                                   acts, tol, label)
            files[key] = fname
            ops[key] = ops_of(model)
        fixture.update({
            "files": files,
            "input_name": "input",
            "input_layout": "channels_last" if last else "channels_first",
            "input_dim": IntVec(cls.input_dim),
            "x": x64,                      # [n, C, L], channels first, always
            "output": out,
            "activations": acts,
        })
        if dtype == "float32":
            # The float32 file evaluated in double precision (its float32
            # weights converted exactly to float64; NumPy evaluator): what a
            # reader that computes in double should get, to rounding. Not the
            # module's float32 parameters in float64: the exporter folds
            # batch norms into convolutions in float32 arithmetic.
            fixture["reference64"] = reference64(outdir, files, tensors, feed(x64).numpy(),
                                                 out.numpy())
        fixture["tensors"] = tensors
        info = {"generator": "tools/make_onnx_fixtures.py",
                "torch_version": torch.__version__,
                "onnx_version": onnx.__version__,
                "seed": seed,
                "output_activation": "softmax" if name == "fcn" else "linear",
                "export_training_mode": str(getattr(cls, "export_mode", EVAL)).split(".")[-1],
                "operators": {k: ", ".join(v) for k, v in ops.items()},
                "max_rel_diff_numpy_graph": max(diffs.values())}
        if hasattr(cls, "dropout_rates"):
            info["dropout_rates"] = np.array(cls.dropout_rates, dtype=np.float64)
        fixture["info"] = info
        path = os.path.join(outdir, "%s_%s.txt.gz" % (name, dtype))
        write_fixture(path, fixture)
        sizes = [os.path.getsize(os.path.join(outdir, f)) for f in files.values()]
        print("%-13s %s n=%d out=%s acts=%s onnx bytes=%s txt.gz=%d diff(numpy graph)=%.2g"
              % (name, dtype, n, tuple(out.shape), ",".join(acts), sizes,
                 os.path.getsize(path), max(diffs.values())))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "tests", "testthat", "fixtures", "onnx")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--only", nargs="*", choices=sorted(NETWORKS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print("torch %s, onnx %s" % (torch.__version__, onnx.__version__))
    for name in (args.only or list(NETWORKS)):
        make_one(name, args.out)


if __name__ == "__main__":
    main()
