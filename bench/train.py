"""PyTorch side of bench/train.R: epochs of mini-batch Adam on softmax
cross-entropy for a chain network exported by bench/common.R, float64.
Prints one line per epoch and finally 'median_seconds threads median_cpu_seconds'
(CPU time of the process, all threads)."""
import sys
import time
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_net import ChainNet, read_input

folder, threads, reps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(1)
net = ChainNet(folder)
x = read_input(folder)
y = torch.from_numpy(np.fromfile(folder + "/y.bin", dtype="<i4").astype(np.int64))


def logits(h):
    """Forward in training mode (see ChainNet.forward)."""
    return net(h, train=True)[0]


opt = torch.optim.Adam(net.parameters(), lr=1e-3)
times, cpu = [], []
for r in range(reps):
    t0 = time.perf_counter()
    c0 = time.process_time()
    perm = torch.randperm(x.shape[0])
    tot = 0.0
    for b0 in range(0, x.shape[0], batch):
        idx = perm[b0:b0 + batch]
        opt.zero_grad()
        loss = F.cross_entropy(logits(x[idx]), y[idx])
        loss.backward()
        opt.step()
        tot += loss.item() * len(idx)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    print(f"epoch {r + 1}: {times[-1]:.3f} s (cpu {cpu[-1]:.3f} s), loss {tot / x.shape[0]:.4f}")
print(f"{np.median(times):.6f} {torch.get_num_threads()} {np.median(cpu):.6f}")
