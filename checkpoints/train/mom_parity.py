"""Parity check: scanstream's logits for a MoM checkpoint equal this PyTorch MoM's (mom.py).

    /usr/bin/python3 checkpoints/train/mom_parity.py                       # random-weight exports
    /usr/bin/python3 checkpoints/train/mom_parity.py --model checkpoints/mom-recall

Random mode exports small MoM models with random weights (varied routing: embeddings ~ N(0, 1),
norm weights ~ U(0.5, 1.5)) in several configurations through mom.export, then runs
`scanstream logits DIR --ids F --out F.npy --backend cpu` (the normal loader, no special path)
and compares all logits of a byte sequence with PyTorch's from the same exported files.
Run from the repository root.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mom import MomConfig, MomLM, export, load_exported  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TEXT = "n=3 x=8 o=3 w=8 d=6 a=4\nask: d w x\nn=3 x=8 o=3 w=8 d=6 a=4\nask: d w x\nd=6 w=8 x=8\n" * 2


def scanstream_logits(model_dir, ids, tmp):
    idf, outf = os.path.join(tmp, "ids.json"), os.path.join(tmp, "out.npy")
    with open(idf, "w") as f:
        json.dump(ids, f)
    subprocess.run(["npx", "tsx", "core/cli/main.ts", "logits", model_dir, "--ids", idf, "--out", outf,
                    "--backend", "cpu"], cwd=ROOT, check=True)
    return np.load(outf)


def compare(model_dir, tmp):
    m = load_exported(model_dir).double()
    ids = list(TEXT.encode("ascii"))
    with torch.no_grad():
        ref = m(torch.tensor([ids]))[0].numpy()
    got = scanstream_logits(model_dir, ids, tmp)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    err = float(np.abs(got - ref).max())
    scale = float(np.abs(ref).max())
    agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
    return err, scale, agree


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            err, scale, agree = compare(os.path.abspath(args.model), tmp)
            print(f"{args.model}: max abs logit diff {err:.2e} (max |logit| {scale:.1f}), argmax agreement {agree:.4f}")
            assert err < 1e-3 * max(1.0, scale)
            return
        configs = [
            dict(d_model=64, n_layer=2, num_heads=2, head_dim=16, expand_v=0.75, num_memories=3, topk=2,
                 shared_mem=True, conv_size=4, intermediate_size=32),          # the mom-recall shape
            dict(d_model=32, n_layer=1, num_heads=2, head_dim=8, expand_v=1.0, num_memories=4, topk=1,
                 shared_mem=False, conv_size=3, intermediate_size=16),
            dict(d_model=48, n_layer=3, num_heads=3, head_dim=8, expand_v=2.0, num_memories=2, topk=2,
                 shared_mem=True, conv_size=2, intermediate_size=24),
        ]
        worst = 0.0
        for i, c in enumerate(configs):
            torch.manual_seed(100 + i)
            m = MomLM(MomConfig(vocab_size=256, **c))
            with torch.no_grad():
                m.embeddings.normal_()
                for name, p in m.named_parameters():
                    if name.endswith("norm") or name.endswith("o_norm"):
                        p.uniform_(0.5, 1.5)
            d = os.path.join(tmp, f"m{i}")
            export(m, d, {"tokenizer": "bytes"})
            err, scale, agree = compare(d, tmp)
            rel = err / max(1.0, scale)
            worst = max(worst, rel)
            print(f"config {i} {c}: max abs logit diff {err:.2e} (max |logit| {scale:.1f}), argmax agreement {agree:.4f}")
        assert worst < 1e-4, worst
        print(f"parity ok: worst relative diff {worst:.2e}")


if __name__ == "__main__":
    main()
