#!/usr/bin/python3
"""Train a small CNN on GunPoint in PyTorch and export it to ONNX.

Development-time tool only. Writes inst/extdata/gunpoint_cnn.onnx, the
PyTorch-exported network that the README and the vignette "Bring your own
network" read with cphap::read_onnx().

    Rscript tools/export_gunpoint_csv.R /tmp/cphap-gunpoint
    /usr/bin/python3 tools/make_gunpoint_onnx.py /tmp/cphap-gunpoint

The network: three blocks Conv1d + ReLU + MaxPool1d(2) (8, 16, 16 channels,
kernels 7, 5, 3, valid padding), Dropout(0.3), Flatten, Linear(256, 2):
logits, as PyTorch models trained with nn.CrossEntropyLoss usually end.
Trained with Adam (lr 3e-3, weight decay 1e-4), full batch, 300 epochs,
float32, one thread, seed 1; exported with torch.onnx.export at opset 13 in
eval mode (dropout removed), input "input" [batch, 1, 150], output "output".
The script prints training and test accuracy (labels "1" -> 0, "2" -> 1).
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn


def load(path):
    raw = np.loadtxt(path, delimiter=",", dtype=np.float64)
    y = raw[:, 0].astype(np.int64) - 1
    x = raw[:, 1:].astype(np.float32)[:, None, :]
    return torch.from_numpy(x), torch.from_numpy(y)


class GunPointCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, 7), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(8, 16, 5), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 16, 3), nn.ReLU(), nn.MaxPool1d(2))
        self.classifier = nn.Sequential(
            nn.Dropout(0.3), nn.Flatten(), nn.Linear(16 * 16, 2))

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "/tmp/cphap-gunpoint"
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "inst", "extdata", "gunpoint_cnn.onnx")
    torch.manual_seed(1)
    torch.set_num_threads(1)
    xtr, ytr = load(os.path.join(data, "gunpoint_train.csv"))
    xte, yte = load(os.path.join(data, "gunpoint_test.csv"))
    net = GunPointCNN()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(300):
        net.train()
        opt.zero_grad()
        loss = loss_fn(net(xtr), ytr)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc_tr = (net(xtr).argmax(1) == ytr).double().mean().item()
        acc_te = (net(xte).argmax(1) == yte).double().mean().item()
    print("final training loss %.4f; accuracy: training %.3f, test %.3f (%d series)"
          % (loss.item(), acc_tr, acc_te, len(yte)))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.onnx.export(net, xtr[:1], out, opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    print("wrote %s (%d bytes)" % (os.path.normpath(out), os.path.getsize(out)))


if __name__ == "__main__":
    main()
