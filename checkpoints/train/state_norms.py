"""Per-head memory of a trained byte-level Mamba-2 on passkey filler: mean decay exp(dt*A) (and the
half-life it implies) over the filler, and the L2 norm of each head's state at a few positions, for a
needle at the start followed by filler. State norms that keep growing past the training length
are the mechanism of state collapse (checkpoints/mamba2-passkey-cpu/README.md).

    /usr/bin/python3 checkpoints/train/state_norms.py checkpoints/mamba2-passkey-cpu [more dirs]
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from mamba2 import load_exported  # noqa: E402
from passkey_task import FILLER, NEEDLE  # noqa: E402

POSITIONS = (128, 462, 1024, 2048, 4096, 8192)


@torch.no_grad()
def report(path, length=8192):
    model = load_exported(path)
    model.eval()
    text = (NEEDLE.format(key="12345") + FILLER * (length // len(FILLER) + 1))[:length]
    h = model.backbone.embedding(torch.tensor([list(text.encode())]))
    for li, block in enumerate(model.backbone.layers):
        mixer = block.mixer
        u = block.norm(h)
        _z, x, B, _C, dt, A = mixer.pre_ssm(u)
        a = (dt * A)[0]                                  # [l, h] log-decay per token
        xd = (x * dt[..., None])[0]                      # [l, h, p]
        S = torch.zeros(x.shape[2], x.shape[3], B.shape[-1])
        norms = {}
        for t in range(length):
            S = torch.exp(a[t])[:, None, None] * S + xd[t][:, :, None] * B[0, t][None, None, :]
            if t + 1 in POSITIONS:
                norms[t + 1] = S.flatten(1).norm(dim=1)
        decay = torch.exp(a[500:]).mean(0)
        half = math.log(0.5) / a[500:].mean(0)
        print(f"layer {li}: mean decay {[round(v, 4) for v in decay.tolist()]}, half-life {[round(v) for v in half.tolist()]} tokens")
        for k, v in norms.items():
            print(f"   |state| at {k}: {[round(n, 2) for n in v.tolist()]}")
        h = h + mixer(u)


if __name__ == "__main__":
    torch.set_num_threads(1)
    for p in sys.argv[1:]:
        print("==", p)
        report(p)
