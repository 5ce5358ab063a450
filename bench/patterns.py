"""PyTorch + scikit-learn side of bench/patterns.R: the same steps as cphap's
pattern framework, written the straightforward way.

1. forward pass of all series keeping the interpretable activations;
2. thresholds: per channel the (1 - alpha) quantile (linear interpolation,
   R's type 7) of all its values over samples and positions;
3. highly activated nodes (> threshold) and their periods;
4. windows of the periods inside the series, cut from z-normalised series;
5. k-means (k-means++ seeding, n_init restarts) per layer.
Prints one line: 'seconds kmeans_seconds nodes/windows per layer'."""
import sys
import time
import numpy as np
import torch
sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_net import ChainNet, read_input
from sklearn.cluster import KMeans

folder, threads = sys.argv[1], int(sys.argv[2])
keep = tuple(int(v) for v in sys.argv[3].split(","))
jump = [int(v) for v in sys.argv[4].split(",")]
size = [int(v) for v in sys.argv[5].split(",")]
start = [int(v) for v in sys.argv[6].split(",")]
alpha, k, n_init = float(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
torch.set_num_threads(threads)
net = ChainNet(folder)
x = read_input(folder)
n, C, L = x.shape

t0 = time.perf_counter()
with torch.no_grad():
    _, acts = net(x, keep)
    mu = x.mean(dim=2, keepdim=True)
    sd = x.std(dim=2, keepdim=True)  # denominator L - 1, as znorm()
    xz = ((x - mu) / torch.where(sd > 0, sd, torch.ones_like(sd))).numpy()
    counts = []
    thresholds = []
    t_km = 0.0
    for q, a in enumerate(acts):
        c = a.shape[1]
        vals = a.permute(1, 0, 2).reshape(c, -1)
        thr = torch.quantile(vals, 1 - alpha, dim=1)
        thresholds.append(thr.numpy())
        s_i, c_i, p_i = torch.nonzero(a > thr[None, :, None], as_tuple=True)
        st = start[q] + p_i.numpy() * jump[q]
        inside = (st >= 0) & (st + size[q] <= L)
        s_in, st_in = s_i.numpy()[inside], st[inside]
        idx = st_in[:, None] + np.arange(size[q])[None, :]
        windows = xz[s_in[:, None], 0, idx]
        tk = time.perf_counter()
        km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, max_iter=100,
                    algorithm="lloyd", random_state=0).fit(windows)
        t_km += time.perf_counter() - tk
        counts.append(f"{len(s_i)}/{windows.shape[0]}")
t = time.perf_counter() - t0
np.concatenate(thresholds).astype("<f8").tofile(folder + "/torch_thr.bin")
print(f"{t:.6f} {t_km:.6f} {' '.join(counts)}")
