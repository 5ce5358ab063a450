"""Rebuild a chain network exported by bench/common.R (export_for_torch) in
PyTorch, float64, for benchmarks against cphap on the same machine."""
import os
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

ACTS = {
    "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "softplus": F.softplus, "linear": lambda z: z,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "softmax": lambda z: torch.softmax(z, dim=1),
}


def _read(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f8").reshape(shape))


class ChainNet(torch.nn.Module):
    def __init__(self, folder):
        super().__init__()
        self.steps = []
        self.params = torch.nn.ParameterList()
        with open(os.path.join(folder, "layers.txt")) as fh:
            for line in fh:
                p = line.split()
                j, kind = int(p[0]), p[1]
                if kind == "Conv1D":
                    act, co, ci, k, s, d, pl, pr = p[2], *map(int, p[3:10])
                    w = torch.nn.Parameter(_read(os.path.join(folder, f"w{j}.bin"), (co, ci, k)))
                    b = torch.nn.Parameter(_read(os.path.join(folder, f"b{j}.bin"), (co,)))
                    self.params.extend([w, b])
                    self.steps.append(("conv", w, b, s, d, pl, pr, act))
                elif kind == "Dense":
                    act, o, i = p[2], int(p[3]), int(p[4])
                    w = torch.nn.Parameter(_read(os.path.join(folder, f"w{j}.bin"), (o, i)))
                    b = torch.nn.Parameter(_read(os.path.join(folder, f"b{j}.bin"), (o,)))
                    self.params.extend([w, b])
                    self.steps.append(("dense", w, b, act))
                elif kind in ("MaxPooling1D", "AveragePooling1D"):
                    self.steps.append(("maxpool" if kind[0] == "M" else "avgpool",
                                       int(p[2]), int(p[3])))
                elif kind == "Flatten":
                    self.steps.append(("flatten",))
                else:  # Skipping (dropout) and other identities
                    self.steps.append(("identity",))

    def forward(self, x, keep=(), train=False):
        """Returns the final output and the outputs of the steps in keep
        (1-based). With train=True: dropout (rate 0.5) at the identity steps
        and the output softmax left out (logits for the loss), as cphap's
        trainer does."""
        kept = []
        n = len(self.steps)
        for j, st in enumerate(self.steps, start=1):
            kind = st[0]
            if kind == "conv":
                _, w, b, s, d, pl, pr, act = st
                if pl or pr:
                    x = F.pad(x, (pl, pr))
                x = ACTS[act](F.conv1d(x, w, b, stride=s, dilation=d))
            elif kind == "dense":
                _, w, b, act = st
                x = F.linear(x, w, b)
                if not (train and j == n and act == "softmax"):
                    x = ACTS[act](x)
            elif kind == "maxpool":
                x = F.max_pool1d(x, st[1], st[2])
            elif kind == "avgpool":
                x = F.avg_pool1d(x, st[1], st[2])
            elif kind == "flatten":
                x = torch.flatten(x, 1)
            elif train:
                x = F.dropout(x, 0.5, training=True)
            if j in keep:
                kept.append(x)
        return x, kept


def print_blas():
    """Print the BLAS that threadpoolctl reports (library, version, kernel,
    threads)."""
    try:
        import threadpoolctl
        for lib in threadpoolctl.threadpool_info():
            if lib.get("user_api") == "blas":
                print("blas: %s %s, kernel (architecture) %s, %s thread(s)" % (
                    lib.get("internal_api"), lib.get("version"), lib.get("architecture"),
                    lib.get("num_threads")))
    except ImportError:
        print("blas: threadpoolctl not installed")


def read_input(folder):
    dims = [int(v) for v in open(os.path.join(folder, "x_dim.txt")).read().split()]
    return _read(os.path.join(folder, "x.bin"), tuple(dims))
