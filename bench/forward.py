"""PyTorch side of bench/forward.R: forward pass with all interpretable
activations, float64, timed at several batch sizes; the activations of all
series are gathered into one tensor per layer (what activations() returns).
Prints the BLAS that threadpoolctl reports, one line per batch size, and last
'best_seconds threads best_batch its_cpu_seconds'."""
import sys
import time
import numpy as np
import torch
sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_net import ChainNet, read_input, print_blas

folder, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keep = tuple(int(v) for v in sys.argv[4].split(","))
batches = [int(v) for v in sys.argv[5].split(",")] if len(sys.argv) > 5 else [1000]
torch.set_num_threads(threads)
print_blas()
net = ChainNet(folder)
x = read_input(folder)
n = x.shape[0]


def run(bs):
    outs, kept = [], [[] for _ in keep]
    for i in range(0, n, bs):
        out, k = net(x[i:i + bs], keep)
        outs.append(out)
        for q, a in enumerate(k):
            kept[q].append(a)
    return torch.cat(outs), [torch.cat(a) for a in kept]


best = None
with torch.no_grad():
    net(x[:8], keep)  # warm up
    for bs in batches:
        times, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            out, kept = run(bs)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        t, c = float(np.median(times)), float(np.median(cpu))
        print(f"batch {bs}: median {t:.4f} s (CPU {c:.4f} s), min {min(times):.4f} s")
        if best is None or t < best[0]:
            best = (t, bs, c)
np.asarray(out).astype("<f8").tofile(folder + "/torch_out.bin")
print(f"{best[0]:.6f} {torch.get_num_threads()} {best[1]} {best[2]:.6f}")
