"""PyTorch side of bench/forward.R: forward pass with all interpretable
activations, float64, timed; prints one line 'seconds max_abs_output'."""
import sys
import time
import numpy as np
import torch
sys.path.insert(0, __import__("os").path.dirname(__file__))
from torch_net import ChainNet, read_input

folder, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keep = tuple(int(v) for v in sys.argv[4].split(","))
torch.set_num_threads(threads)
net = ChainNet(folder)
x = read_input(folder)
times = []
with torch.no_grad():
    net(x[:8], keep)  # warm up
    for _ in range(reps):
        t0 = time.perf_counter()
        out, kept = net(x, keep)
        times.append(time.perf_counter() - t0)
np.asarray(out).astype("<f8").tofile(folder + "/torch_out.bin")
print(f"{np.median(times):.6f} {torch.get_num_threads()}")
