"""PyTorch side of tests/parity/test_interop_torch.cpp (run in the work directory by
torch_roundtrip.sh, with tools/ linked there).

    train-torch   trains unetpp_torch.UNet(in_channels=1, classes=1, base=8, depth=3) for a few
                  Adam steps on seeded random data; writes model.pt (its state_dict) and
                  reference.safetensors (x and the eval-mode output y)
    eval-torch    loads model.safetensors (unetpp's) with unetpp_export_torch.load_unetpp, checks
                  that model.pt (from the to-torch command) holds the same tensors, and writes
                  the eval-mode output on input.safetensors's x to torch_output.safetensors
"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.getcwd(), "tools"))
import unetpp_export_torch as ux  # noqa: E402
import unetpp_torch  # noqa: E402


def train_torch():
    torch.manual_seed(1234)
    model = unetpp_torch.UNet(in_channels=1, classes=1, base=8, depth=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(5):
        x = torch.randn(4, 1, 32, 32)
        t = (torch.rand(4, 1, 32, 32) > 0.5).float()
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
    torch.save(model.state_dict(), "model.pt")
    model.eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        y = model(x)
    ux.write_safetensors("reference.safetensors", {"x": x, "y": y})
    print(f"trained 5 Adam steps; final loss {loss.item():.4f}; output scale {y.abs().max().item():.3f}")


def eval_torch():
    model = ux.load_unetpp("model.safetensors")  # a unetpp_torch.UNet in eval mode
    state = torch.load("model.pt")
    for name, t in model.state_dict().items():
        if not torch.equal(state[name], t):
            raise SystemExit(f"model.pt and model.safetensors differ in {name}")
    x = ux.read_safetensors("input.safetensors")[0]["x"].float()
    with torch.no_grad():
        y = model(x)
    ux.write_safetensors("torch_output.safetensors", {"y": y})


if __name__ == "__main__":
    {"train-torch": train_torch, "eval-torch": eval_torch}[sys.argv[1]]()
