"""Train a small CNN on Cylinder-Bell-Funnel series with PyTorch (float64) and
write it in cphap's list format to tests/testthat/models/cbf_cnn.txt.gz.

A development-time tool only (DESIGN section 4): the tests read the fixture
and never need PyTorch. The CBF definition follows sim_cbf(): with t the
1-based time index, a uniform on [16, 32], b - a uniform on [32, 96] (scaled
by length / 128), eta and eps standard normal,
cylinder (6 + eta) 1[a, b](t), bell ... (t - a) / (b - a), funnel ... (b - t) / (b - a),
plus noise. The 128-point CBF series is embedded at a random offset in a
longer noise series (length 256, as the test helper sim_cbf_embedded() does),
so that the events cover about a quarter of the series. Usage: python3 tools/make_cbf_model.py (from the package root).
"""
import gzip
import numpy as np
import torch

L = 128
LONG = 256


def cbf(n, rng):
    y = rng.permutation(np.arange(n) % 3)
    a = rng.integers(16, 33, n)
    b = np.minimum(a + rng.integers(32, 97, n), L)
    eta = rng.standard_normal(n)
    t = np.arange(1, L + 1)[None, :]
    inside = (t >= a[:, None]) & (t <= b[:, None])
    ramp_up = (t - a[:, None]) / (b - a)[:, None]
    shape = np.where(y[:, None] == 0, 1.0, np.where(y[:, None] == 1, ramp_up, 1.0 - ramp_up))
    x = (6 + eta)[:, None] * inside * shape + rng.standard_normal((n, L))
    return x, y


def cbf_embedded(n, rng):
    x, y = cbf(n, rng)
    off = rng.integers(0, LONG - L + 1, n)
    out = rng.standard_normal((n, LONG))
    for i in range(n):
        out[i, off[i]:off[i] + L] = x[i]
    return out, y


def net():
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 8, 7), torch.nn.ReLU(), torch.nn.MaxPool1d(2, 2),
        torch.nn.Conv1d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool1d(2, 2),
        torch.nn.Conv1d(16, 16, 3), torch.nn.ReLU(), torch.nn.MaxPool1d(2, 2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 29, 3),
    ).double()


def num(v):
    return "c(" + ", ".join(float(e).hex() for e in np.asarray(v).ravel(order="F")) + ")"


def export(model, path, acc):
    parts = []
    for m in model:
        if isinstance(m, torch.nn.Conv1d):
            w = m.weight.detach().numpy()
            parts.append('list(type = "Conv1D", weight = array(%s, dim = c(%dL, %dL, %dL)), '
                         'bias = %s, activation_name = "relu")'
                         % (num(w), *w.shape, num(m.bias.detach().numpy())))
        elif isinstance(m, torch.nn.MaxPool1d):
            parts.append('list(type = "MaxPooling1D", kernel_size = 2L, strides = 2L)')
        elif isinstance(m, torch.nn.Flatten):
            parts.append('list(type = "Flatten")')
        elif isinstance(m, torch.nn.Linear):
            w = m.weight.detach().numpy()
            parts.append('list(type = "Dense", weight = matrix(%s, nrow = %dL, ncol = %dL), '
                         'bias = %s, activation_name = "softmax")'
                         % (num(w), *w.shape, num(m.bias.detach().numpy())))
    text = ('list(\nname = "cbf_cnn",\ntest_accuracy = %s,\nmodel = list(\ninput_dim = c(1L, %dL),\n'
            'output_names = list(list(c("cylinder", "bell", "funnel"))),\nlayers = list(\n%s\n)))\n'
            % (repr(acc), LONG, ",\n".join(parts)))
    with gzip.open(path, "wt") as f:
        f.write(text)


def main():
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    x, y = cbf_embedded(900, rng)
    xt, yt = cbf_embedded(300, rng)
    X = torch.tensor(x)[:, None, :]
    Y = torch.tensor(y)
    model = net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(40):
        perm = torch.randperm(len(Y))
        for i in range(0, len(Y), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (model(torch.tensor(xt)[:, None, :]).argmax(1).numpy() == yt).mean()
    print("test accuracy", acc)
    export(model, "tests/testthat/models/cbf_cnn.txt.gz", float(acc))


if __name__ == "__main__":
    main()
