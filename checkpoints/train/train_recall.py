"""Train checkpoints/mamba2-recall: a small-state byte-level Mamba-2 on multi-query associative
recall written as text (recall_task.py), with the context shown once or twice (JRT) at random.

    TRAIN_DEVICE=cuda python3 checkpoints/train/train_recall.py    # the shipped model: 334 s on one H100

(On 2 CPU cores 200 steps stayed at chance; the full 12000 steps would take hours there.)

Options: --steps N (default 12000), --out DIR (default checkpoints/mamba2-recall).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mamba2 import Config, Mamba2LM, export, load_exported, self_test  # noqa: E402
from recall_task import build, eval_example, example_from, value_positions  # noqa: E402

SEED = 777
BATCH = 32
MIN_PAIRS, MAX_PAIRS = 4, 24
MAX_ASKED = 8
P_TWICE = 0.5                  # fraction of training examples with the context shown twice
OTHER_WEIGHT = 0.01
# longest training text: 24 pairs, 8 asked, context shown twice
TRAIN_LENGTH = (lambda c, a: len(c + c + a))(*build([("aa", "00")] * MAX_PAIRS, ["aa"] * MAX_ASKED))
EVAL_PAIRS = [8, 16, 24, 32, 48]
EVAL_ASKED = 8
EVAL_EXAMPLES = 24


def train_example(rng):
    n = int(rng.integers(MIN_PAIRS, MAX_PAIRS + 1))
    k = int(rng.integers(1, min(MAX_ASKED, n) + 1))
    pairs, asked = example_from(lambda: int(rng.integers(0, 2 ** 31)), n, k)
    context, answers = build(pairs, asked)
    prefix = context + context if rng.random() < P_TWICE else context
    return prefix, answers


def encode_batch(examples):
    seqs = [list((p + a).encode("ascii")) for p, a in examples]
    T = max(len(s) for s in seqs) - 1
    x = torch.zeros(len(seqs), T, dtype=torch.int64)
    y = torch.zeros(len(seqs), T, dtype=torch.int64)
    w = torch.zeros(len(seqs), T)
    for i, ((p, a), s) in enumerate(zip(examples, seqs)):
        n = len(s) - 1
        x[i, :n] = torch.tensor(s[:-1])
        y[i, :n] = torch.tensor(s[1:])
        w[i, :n] = OTHER_WEIGHT
        for pos, _k in value_positions(len(p), a):
            w[i, pos - 1] = 1.0        # target = first digit
            w[i, pos] = 1.0            # target = second digit
    return x, y, w


@torch.no_grad()
def score(model, prefix, answers):
    """-> (correct values, asked values); a value is correct if both digits are the argmax."""
    ids = list((prefix + answers).encode("ascii"))
    pred = model(torch.tensor([ids[:-1]], device=common.DEVICE))[0, :, :256].argmax(-1).tolist()
    ok = 0
    vp = value_positions(len(prefix), answers)
    for pos, _k in vp:
        ok += pred[pos - 1] == ids[pos] and pred[pos] == ids[pos + 1]
    return ok, len(vp)


def accuracy(model, n_pairs, twice, n_examples=EVAL_EXAMPLES):
    ok = tot = 0
    for i in range(n_examples):
        pairs, asked = eval_example(n_pairs, min(EVAL_ASKED, n_pairs), i)
        context, answers = build(pairs, asked)
        a, b = score(model, context + context if twice else context, answers)
        ok += a
        tot += b
    return ok / tot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--d-model", type=int, default=96)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "mamba2-recall"))
    args = ap.parse_args()

    self_test()
    common.seed_all(SEED)
    common.set_threads()
    cfg = Config(d_model=args.d_model, n_layer=args.n_layer, vocab_size=256, d_state=16, d_conv=4, expand=2,
                 headdim=16, ngroups=1, chunk_size=64, pad_vocab_size_multiple=8)
    model = Mamba2LM(cfg).to(common.DEVICE)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters, recurrent state {cfg.state_elements()} floats")
    rng = np.random.default_rng(SEED)

    def get_batch(step):
        return encode_batch([train_example(rng) for _ in range(BATCH)])

    vrng = np.random.default_rng(SEED + 1)
    val = [train_example(vrng) for _ in range(64)]

    def evaluate():
        x, y, w = [t.to(common.DEVICE) for t in encode_batch(val)]
        loss = common.masked_ce(model(x), y, (w == 1.0).float()).item()
        return {"val_value_loss": loss,
                "acc16_once": accuracy(model, 16, False, 8), "acc16_twice": accuracy(model, 16, True, 8)}

    hist, secs = common.train(model, get_batch, args.steps, lr=3e-3, warmup=30, log_every=50,
                              evaluate=evaluate, eval_every=250, max_seconds=args.max_seconds)
    model.eval()
    D = common.DEVICE
    with torch.no_grad():
        x, y, w = encode_batch(val)
        va_loss = common.masked_ce(model(x.to(D)).cpu(), y, (w == 1.0).float()).item()
        tx, ty, tw = encode_batch([train_example(np.random.default_rng(SEED + 2)) for _ in range(64)])
        tr_loss = common.masked_ce(model(tx.to(D)).cpu(), ty, (tw == 1.0).float()).item()
    print(f"final: value-digit loss train {tr_loss:.4f}, validation {va_loss:.4f} nats/byte")
    table = {}
    print(f"accuracy per asked value, {EVAL_EXAMPLES} examples x {EVAL_ASKED} asked keys:")
    print("pairs   once   twice(JRT)")
    for n in EVAL_PAIRS:
        table[str(n)] = {"once": accuracy(model, n, False), "twice": accuracy(model, n, True)}
        print(f"{n:>5}  {table[str(n)]['once']:5.3f}  {table[str(n)]['twice']:5.3f}")

    model = model.cpu()
    common.DEVICE = "cpu"
    out = os.path.abspath(args.out)
    export(model, out, extra_config={"train_length": TRAIN_LENGTH, "tokenizer": "bytes"})
    re_m = load_exported(out)
    with torch.no_grad():
        d = (re_m(x[:2]) - model(x[:2])).abs().max().item()
    print(f"export round trip max abs logit diff {d:.2e}")
    assert d < 1e-4
    info = {
        "model": "mamba2-recall", "parameters": n_params, "state_elements": cfg.state_elements(),
        "seed": SEED, "steps": args.steps, "batch": BATCH, "train_pairs": [MIN_PAIRS, MAX_PAIRS],
        "train_max_asked": MAX_ASKED, "train_length": TRAIN_LENGTH, "p_twice": P_TWICE, "train_seconds": round(secs),
        "final_train_value_loss": tr_loss, "final_val_value_loss": va_loss, "history": hist,
        "accuracy_by_pairs": table, "eval_examples": EVAL_EXAMPLES, "eval_asked": EVAL_ASKED,
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
