"""PyTorch + scikit-learn side of bench/patterns.R: the same steps as cphap's
pattern framework, written the straightforward way.

1. forward pass of all series keeping the interpretable activations, timed
   at several batch sizes (the fastest counts), the batches gathered into
   one tensor per layer;
2. thresholds: per channel the (1 - alpha) quantile (linear interpolation,
   R's type 7) of all its values over samples and positions;
3. highly activated nodes (> threshold) and their periods;
4. windows of the periods inside the series, cut from z-normalised series;
5. k-means (k-means++ seeding, n_init restarts) per layer.
Prints the BLAS that threadpoolctl reports, then 'key value' lines:
forward, thresholds, periods_windows, kmeans, total (seconds, the forward
at its best batch size), batch, counts (nodes/windows per layer)."""
import sys
import time
import numpy as np
import torch
sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_net import ChainNet, read_input, print_blas
from sklearn.cluster import KMeans

folder, threads = sys.argv[1], int(sys.argv[2])
keep = tuple(int(v) for v in sys.argv[3].split(","))
jump = [int(v) for v in sys.argv[4].split(",")]
size = [int(v) for v in sys.argv[5].split(",")]
start = [int(v) for v in sys.argv[6].split(",")]
alpha, k, n_init = float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
batches = [int(v) for v in sys.argv[10].split(",")] if len(sys.argv) > 10 else [1000]
run_kmeans = len(sys.argv) <= 11 or sys.argv[11] != "0"
torch.set_num_threads(threads)
print_blas()
net = ChainNet(folder)
x = read_input(folder)
n, C, L = x.shape


def forward(bs):
    kept = [[] for _ in keep]
    for i in range(0, n, bs):
        _, a = net(x[i:i + bs], keep)
        for q, v in enumerate(a):
            kept[q].append(v)
    return [torch.cat(v) for v in kept]


with torch.no_grad():
    net(x[:8], keep)  # warm up
    best = None
    for bs in batches:
        t0, c0 = time.perf_counter(), time.process_time()
        acts = forward(bs)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        print(f"forward batch {bs}: {t:.4f} s (CPU {c:.4f} s)")
        if best is None or t < best[0]:
            best = (t, bs, c)
    t_fwd, best_bs, c_fwd = best

    t0 = time.perf_counter()
    thresholds = []
    for a in acts:
        c = a.shape[1]
        thresholds.append(torch.quantile(a.permute(1, 0, 2).reshape(c, -1), 1 - alpha, dim=1))
    t_thr = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    mu = x.mean(dim=2, keepdim=True)
    sd = x.std(dim=2, keepdim=True)  # denominator L - 1, as znorm()
    xz = ((x - mu) / torch.where(sd > 0, sd, torch.ones_like(sd))).numpy()
    windows, counts = [], []
    for q, a in enumerate(acts):
        s_i, c_i, p_i = torch.nonzero(a > thresholds[q][None, :, None], as_tuple=True)
        st = start[q] + p_i.numpy() * jump[q]
        inside = (st >= 0) & (st + size[q] <= L)
        s_in, st_in = s_i.numpy()[inside], st[inside]
        idx = st_in[:, None] + np.arange(size[q])[None, :]
        windows.append(xz[s_in[:, None], 0, idx])
        counts.append(f"{len(s_i)}/{windows[-1].shape[0]}")
    t_pw, c_pw = time.perf_counter() - t0, time.process_time() - c0

    t_km = 0.0
    if run_kmeans:
        for w in windows:
            t0 = time.perf_counter()
            KMeans(n_clusters=k, init="k-means++", n_init=n_init, max_iter=100,
                   algorithm="lloyd", random_state=0).fit(w)
            t_km += time.perf_counter() - t0
np.concatenate([t.numpy() for t in thresholds]).astype("<f8").tofile(folder + "/torch_thr.bin")
print(f"forward_best {t_fwd:.6f}")
print(f"batch {best_bs}")
print(f"thresholds {t_thr:.6f}")
print(f"periods_windows {t_pw:.6f}")
print(f"cpu {c_fwd:.6f} {c_pw:.6f}")
print(f"kmeans {t_km:.6f}")
print(f"total {t_fwd + t_thr + t_pw + t_km:.6f}")
print(f"counts {' '.join(counts)}")
