#!/usr/bin/python3
"""Check ONNX files written by cphap::write_onnx() (development only).

Run tools/write_onnx_models.R first; it writes, for every list-format fixture
network and a model trained by fit_model(), .onnx files (float64 at opsets
11, 13, 17 and float32 at opset 13) and the inputs and cphap's outputs
(<net>.io.txt). For every file this script

  1. runs onnx.checker.check_model (full check, with shape inference) and
     compares the inferred output shape with cphap's;
  2. evaluates the graph with the NumPy evaluator tools/onnx_numpy.py;
  3. rebuilds the network in PyTorch from the graph and its initializers
     (nn.Conv1d, nn.Linear, nn.BatchNorm1d, nn.MaxPool1d, ... with the
     weights copied in, walked in the graph's node order) and runs it;

and reports the largest relative difference (max |a - b| / max |b|) of 2.
and 3. to cphap's output. It fails (exit status 1) when a float64 file
differs by more than 1e-12 or a float32 file by more than 1e-5.

Usage: /usr/bin/python3 tools/check_onnx_written.py [DIR]
"""

import glob
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_numpy  # noqa: E402

torch.set_num_threads(1)


def read_io(path):
    with open(path) as fh:
        lines = fh.read().split("\n")

    def arr(dims, vals):
        d = [int(v) for v in dims.split()]
        return np.array([float.fromhex(v) for v in vals.split()]).reshape(d)
    return arr(lines[0], lines[1]), arr(lines[2], lines[3])


def rel_diff(a, b):
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


class Node(nn.Module):
    """One ONNX node as a PyTorch module."""

    def __init__(self, node, inits):
        super().__init__()
        self.op = node.op_type
        a = onnx_numpy.attrs(node)
        ins = [inits.get(n) for n in node.input]
        self.inputs = [n for n in node.input if n and n not in inits]
        self.output = node.output[0]
        T = lambda v: torch.from_numpy(np.array(v))  # noqa: E731
        op = self.op
        if op == "Conv":
            w = ins[1]
            assert a.get("group", 1) == 1 and w.ndim == 3
            pl, pr = a.get("pads", [0, 0])
            self.pad = nn.ConstantPad1d((pl, pr), 0.0)
            self.m = nn.Conv1d(w.shape[1], w.shape[0], w.shape[2],
                               stride=a.get("strides", [1])[0],
                               dilation=a.get("dilations", [1])[0],
                               bias=len(ins) > 2)
            self.m.weight.data = T(w)
            if len(ins) > 2:
                self.m.bias.data = T(ins[2])
            self.f = lambda x: self.m(self.pad(x))
        elif op == "Gemm":
            assert a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0
            assert not a.get("transA", 0)
            w = ins[1] if a.get("transB", 0) else ins[1].T
            self.m = nn.Linear(w.shape[1], w.shape[0])
            self.m.weight.data = T(w)
            self.m.bias.data = T(ins[2])
            self.f = self.m
        elif op == "BatchNormalization":
            self.m = nn.BatchNorm1d(len(ins[1]), eps=a.get("epsilon", 1e-5))
            self.m.weight.data = T(ins[1])
            self.m.bias.data = T(ins[2])
            self.m.running_mean.data = T(ins[3])
            self.m.running_var.data = T(ins[4])
            self.f = self.m
        elif op in ("MaxPool", "AveragePool"):
            assert a.get("pads", [0, 0]) == [0, 0] and not a.get("ceil_mode", 0)
            k, s = a["kernel_shape"][0], a.get("strides", [1])[0]
            self.m = nn.MaxPool1d(k, s) if op == "MaxPool" else nn.AvgPool1d(k, s)
            self.f = self.m
        elif op == "GlobalAveragePool":
            self.f = nn.AdaptiveAvgPool1d(1)
        elif op == "GlobalMaxPool":
            self.f = nn.AdaptiveMaxPool1d(1)
        elif op == "Flatten":
            self.f = nn.Flatten(a.get("axis", 1))
        elif op == "Reshape":
            shape = [int(v) for v in ins[1]]
            self.f = lambda x: x.reshape([x.shape[i] if v == 0 else v
                                          for i, v in enumerate(shape)])
        elif op == "Pad":
            pads = [int(v) for v in ins[1]]
            assert pads[:2] == [0, 0] and pads[3:5] == [0, 0] and a.get("mode", "constant") == "constant"
            value = float(ins[2]) if len(ins) > 2 else 0.0
            self.f = nn.ConstantPad1d((pads[2], pads[5]), value)
        elif op == "Dropout":
            ratio = float(ins[1]) if len(ins) > 1 else a.get("ratio", 0.5)
            self.f = nn.Dropout(ratio)
        elif op == "Identity":
            self.f = nn.Identity()
        elif op == "Relu":
            self.f = nn.ReLU()
        elif op == "LeakyRelu":
            self.f = nn.LeakyReLU(a.get("alpha", 0.01))
        elif op == "Tanh":
            self.f = nn.Tanh()
        elif op == "Sigmoid":
            self.f = nn.Sigmoid()
        elif op == "Softplus":
            self.f = nn.Softplus(beta=1.0, threshold=1e6)
        elif op == "Softmax":
            self.f = nn.Softmax(dim=a.get("axis", -1))
        elif op == "Add":
            self.f = torch.add
        else:
            raise NotImplementedError("no PyTorch rebuild for operator %s" % op)

    def forward(self, *xs):
        return self.f(*xs)


class Rebuilt(nn.Module):
    """The graph as a PyTorch module: its nodes in order, each reading the
    tensors it names."""

    def __init__(self, model):
        super().__init__()
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.nodes = nn.ModuleList([Node(n, inits) for n in model.graph.node])
        self.input = model.graph.input[0].name
        self.out = model.graph.output[0].name

    def forward(self, x):
        vals = {self.input: x}
        for m in self.nodes:
            vals[m.output] = m(*[vals[n] for n in m.inputs])
        return vals[self.out]


def check_file(path, x, out):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = [d.dim_value or d.dim_param for d in
            inferred.graph.output[0].type.tensor_type.shape.dim]
    want = int(np.prod(out.shape[1:]))
    if int(np.prod(dims[1:])) != want or dims[0] != "batch":
        raise AssertionError("output shape %s, expected [batch, %d]" % (dims, want))
    elem = model.graph.input[0].type.tensor_type.elem_type
    npdt = np.float32 if elem == onnx.TensorProto.FLOAT else np.float64
    feed = x.astype(npdt)
    vals = onnx_numpy.run(model, {"input": feed})
    d_np = rel_diff(vals["output"], out)
    net = Rebuilt(model).eval()
    with torch.no_grad():
        got = net(torch.from_numpy(feed)).numpy()
    d_torch = rel_diff(got, out)
    return npdt, d_np, d_torch, model.opset_import[0].version


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/cphap-onnx-written"
    ios = sorted(glob.glob(os.path.join(d, "*.io.txt")))
    if not ios:
        sys.exit("no *.io.txt in %s: run Rscript tools/write_onnx_models.R first" % d)
    print("onnx %s, torch %s; %s" % (onnx.__version__, torch.__version__, here))
    worst = {np.float32: 0.0, np.float64: 0.0}
    fails = 0
    n = 0
    for io in ios:
        name = os.path.basename(io)[:-len(".io.txt")]
        x, out = read_io(io)
        for path in sorted(glob.glob(os.path.join(d, name + "_float*.onnx"))):
            npdt, d_np, d_torch, opset = check_file(path, x, out)
            n += 1
            tol = 1e-5 if npdt == np.float32 else 1e-12
            ok = d_np <= tol and d_torch <= tol
            fails += not ok
            worst[npdt] = max(worst[npdt], d_np, d_torch)
            print("%-32s opset %2d checker ok  numpy %.2e  torch %.2e  %s" %
                  (os.path.basename(path), opset, d_np, d_torch, "ok" if ok else "FAIL"))
    print("%d files; max relative difference float64 %.2e, float32 %.2e; %d failed"
          % (n, worst[np.float64], worst[np.float32], fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
