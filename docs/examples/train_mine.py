"""A plain PyTorch loop on the embedded digits, trained at T = 10, saved as its author saves it; with --track,
Thermoscope measures it every 5 epochs while it trains (docs/analyse-your-own-model.md).

    python train_mine.py            # writes my-mlp.pt
    python train_mine.py --track    # the same training, measured at epochs 0, 5, 10, 15, 20
"""
import sys
from pathlib import Path

import torch
from mynets import mlp

from training.data import load_dataset  # the embedded digits and shapes, already normalised tensors

digits, shapes = load_dataset("digits", Path(".")), load_dataset("shapes", Path("."))
torch.manual_seed(0)
model = mlp()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(digits.x_train, digits.y_train),
                                     batch_size=128, shuffle=True)
T = 10.0  # this network is trained at temperature 10: cross-entropy on logits / T

tracker = None
if "--track" in sys.argv:
    from lab import Tracker

    tracker = Tracker(model, (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                      ood={"shapes": ((shapes.x_train, shapes.y_train), (shapes.x_test, shapes.y_test))},
                      name="my-mlp-tracked", dataset="digits", temperature=T, every=5).start()
for epoch in range(21):
    if epoch:
        model.train()
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x) / T, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    if tracker:
        tracker.measure(epoch, train_loss=loss.item() if epoch else None)
if tracker:
    tracker.close()
torch.save(model.state_dict(), "my-mlp.pt")
