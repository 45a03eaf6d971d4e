"""Train checkpoints/mamba2-passkey: a byte-level Mamba-2 that retrieves a 5-digit pass key
hidden in filler text, trained only on prompts of at most 512 bytes, with a recurrent state
that is large for that length (d_state 64), so that it fails past the training length.

    TRAIN_DEVICE=cuda python3 checkpoints/train/train_passkey.py   # the shipped model: 129 s on one H100
    # 2 CPU cores, ~24 min: a model that collapses too (the CPU recipe)
    /usr/bin/python3 checkpoints/train/train_passkey.py --steps 850 --time-budget 1800 --dt-init 1e-4,1e-3 --out DIR

On CPU the fixed 4000-step schedule takes hours, and short runs of it stayed on the loss plateau.
The time-budget mode (a curriculum from 0 to 4 fillers over the first 30% of the run, the cosine
following progress = max(step / steps, elapsed / budget)) leaves the plateau at ~400 steps and
reaches 100% in-distribution by step 750 on 2 cores. With mamba_ssm's dt initialisation its models
keep finding a needle near the question at 1M tokens (no collapse); with every head starting slow
(`--dt-init 1e-4,1e-3`: half-lives of ~40 to ~7,000 tokens, which training at 462 gives no reason
to shorten) the state keeps growing past the training length and such needles are lost
(checkpoints/mamba2-passkey/README.md, "Training on 2 CPU cores").

Options: --steps N (default 4000), --out DIR (default checkpoints/mamba2-passkey), --time-budget S,
--curriculum F (0: none), --bucket, --max-fillers N, --batch B, --d-state N, --headdim P, --dt-init
LO,HI (see --help). The CPU runs are recorded in checkpoints/mamba2-passkey/cpu-runs/.
"""
import argparse
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mamba2 import Config, Mamba2LM, export, load_exported, self_test  # noqa: E402
from passkey_task import FILLER, NEEDLE, QUESTION, eval_key, make_prompt  # noqa: E402

SEED = 4321
BATCH = 32
TRAIN_MAX_FILLERS = 4          # prompts of 96..456 bytes (+6 answer): training length 512


def train_length(max_fillers):
    """Longest training sequence (prompt + answer) in bytes: 462 for 4 fillers."""
    return len(FILLER) * max_fillers + len(NEEDLE.format(key="00000")) + len(QUESTION) + 6
NEEDLE_COPY_WEIGHT = 0.5     # weight of the second key copy inside the needle
OTHER_WEIGHT = 0.01            # loss weight of non-answer bytes (answer digits weigh 1)
EVAL_LENGTHS = [256, 512, 1024, 2048, 4096, 8192, 16384]
KEYS_PER_CELL = 2
EVAL_DEPTHS = [0.0, 0.25, 0.5, 0.75, 1.0]


def train_example(rng, max_fillers=TRAIN_MAX_FILLERS, n=None):
    n = int(rng.integers(0, max_fillers + 1)) if n is None else n
    kb = int(rng.integers(0, n + 1))
    key = str(int(rng.integers(10000, 100000)))
    prompt = FILLER * kb + NEEDLE.format(key=key) + FILLER * (n - kb) + QUESTION
    return prompt, " " + key


def mark_answer(w, p, a, n):
    w[len(p) - 1 + 1: n] = 1.0          # the 5 answer digits (targets of positions len(p)..)
    # the needle repeats the key ("... {key}. Remember it. {key} is ..."): its second copy is
    # predictable from the first at a short distance, an easy copy that helps the long one
    j = p.index(" is the pass key.")
    w[j - 6: j - 1] = NEEDLE_COPY_WEIGHT


def encode_batch(examples):
    """examples: [(prompt, answer)] -> inputs, targets, weights (right-padded with 0 weight)."""
    return common.encode_batch(examples, OTHER_WEIGHT, mark_answer)


@torch.no_grad()
def set_dt_init(model, lo, hi):
    """dt_bias of every head := softplus^-1(dt), dt ~ logU(lo, hi), from its own seeded generator."""
    g = torch.Generator().manual_seed(SEED + 7)
    for blk in model.backbone.layers:
        h = blk.mixer.dt_bias.numel()
        dt = torch.exp(torch.rand(h, generator=g) * (math.log(hi) - math.log(lo)) + math.log(lo))
        blk.mixer.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))


@torch.no_grad()
def answer_correct(model, prompt, answer):
    """Greedy exact match, computed with teacher forcing: the greedy continuation equals the
    answer iff the argmax at every answer position is the next answer byte."""
    ids = list((prompt + answer).encode("ascii"))
    logits = model(torch.tensor([ids[:-1]], device=common.DEVICE))[0]
    pred = logits[len(prompt) - 1:, :256].argmax(-1).tolist()
    return pred == ids[len(prompt):]


def accuracy_table(model, lengths, depths, keys_per_cell):
    table = {}
    i = 0
    for L in lengths:
        row = {}
        for d in depths:
            ok = 0
            for _ in range(keys_per_cell):
                p, a = make_prompt(L, d, eval_key(i))
                i += 1
                ok += answer_correct(model, p, a)
            row[str(d)] = ok / keys_per_cell
        table[str(L)] = row
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds (the CPU recipe): stop at --steps or after this long, the lr schedule "
                         "following the progress, and a curriculum on the filler count")
    ap.add_argument("--max-fillers", type=int, default=TRAIN_MAX_FILLERS,
                    help="largest filler count in training (sets the training length: 4 -> 462 bytes)")
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--curriculum", type=float, default=0.3,
                    help="with --time-budget: share of the run over which the largest filler count "
                         "grows from 0 to the full 4")
    ap.add_argument("--bucket", action="store_true",
                    help="one filler count per batch (same distribution over batches, ~40%% less padding)")
    ap.add_argument("--d-state", type=int, default=64, help="SSM state size per head channel (the state's size lever)")
    ap.add_argument("--headdim", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--init", default=None,
                    help="start from an exported checkpoint (continued training; its config wins over --d-state / --headdim)")
    ap.add_argument("--dt-init", default=None, metavar="LO,HI",
                    help="initial dt range (log-uniform per head; mamba_ssm's is 0.001,0.1): a small "
                         "range starts every head with slow decay, i.e. long memory")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "mamba2-passkey"))
    args = ap.parse_args()

    self_test()
    common.seed_all(SEED)
    common.set_threads()
    cfg = Config(d_model=96, n_layer=3, vocab_size=256, d_state=args.d_state, d_conv=4, expand=2,
                 headdim=args.headdim, ngroups=1, chunk_size=64, pad_vocab_size_multiple=8)
    if args.init:
        model = load_exported(args.init).to(common.DEVICE)
        cfg = model.cfg
    else:
        model = Mamba2LM(cfg).to(common.DEVICE)
        if args.dt_init:
            set_dt_init(model, *map(float, args.dt_init.split(",")))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters, recurrent state {cfg.state_elements()} floats")
    rng = np.random.default_rng(SEED + (1000 if args.init else 0))  # continued training: fresh prompts

    def get_batch(step, progress=None):
        # with a time budget, short prompts first: the copy is learned at short distance, then stretched
        top = args.max_fillers
        mf = top if progress is None or args.curriculum <= 0 else min(top, int(progress / args.curriculum * (top + 1)))
        n = int(rng.integers(0, mf + 1)) if args.bucket else None
        return encode_batch([train_example(rng, mf, n) for _ in range(args.batch)])

    vrng = np.random.default_rng(SEED + 1)
    val = [train_example(vrng, args.max_fillers) for _ in range(64)]

    def evaluate():
        x, y, w = encode_batch(val)
        x, y, w = x.to(common.DEVICE), y.to(common.DEVICE), w.to(common.DEVICE)
        logits = model(x)
        mask = (w == 1.0).float()
        loss = common.masked_ce(logits, y, mask).item()
        acc = float(np.mean([answer_correct(model, p, a) for p, a in val[:32]]))
        return {"val_answer_loss": loss, "val_acc_in_dist": acc}

    hist, secs = common.train(model, get_batch, args.steps, lr=args.lr, warmup=30, log_every=50,
                              evaluate=evaluate, eval_every=250, max_seconds=args.max_seconds,
                              time_budget=args.time_budget)
    model.eval()
    D = common.DEVICE
    x, y, w = encode_batch(val)
    with torch.no_grad():
        logits = model(x.to(D)).cpu()
        trng = np.random.default_rng(SEED + 2)   # 64 fresh prompts (a new generator per prompt gave 64 copies of one)
        tr_x, tr_y, tr_w = encode_batch([train_example(trng, args.max_fillers) for _ in range(64)])
        tr_loss = common.masked_ce(model(tr_x.to(D)).cpu(), tr_y, (tr_w == 1.0).float()).item()
    va_loss = common.masked_ce(logits, y, (w == 1.0).float()).item()
    print(f"final: answer-digit loss train {tr_loss:.4f}, validation {va_loss:.4f} nats/byte")

    t1 = time.time()
    table = accuracy_table(model, EVAL_LENGTHS, EVAL_DEPTHS, keys_per_cell=KEYS_PER_CELL)
    print(f"accuracy by nominal context length (rows) and depth (columns), {KEYS_PER_CELL} keys per cell "
          f"[{time.time() - t1:.0f}s]:")
    print("length  " + "  ".join(f"{d:>5}" for d in EVAL_DEPTHS) + "   mean")
    for L, row in table.items():
        print(f"{L:>6}  " + "  ".join(f"{v:5.2f}" for v in row.values()) + f"  {np.mean(list(row.values())):5.2f}")

    model = model.cpu()
    common.DEVICE = "cpu"
    out = os.path.abspath(args.out)
    export(model, out, extra_config={"train_length": train_length(args.max_fillers), "tokenizer": "bytes"})
    re_m = load_exported(out)
    with torch.no_grad():
        d = (re_m(x[:2]) - model(x[:2])).abs().max().item()
    print(f"export round trip max abs logit diff {d:.2e}")
    assert d < 1e-4
    examples = []
    for L in [256, 512, 2048]:
        p, a = make_prompt(L, 0.5, eval_key(1000 + L))
        ids = list(p.encode("ascii"))
        with torch.no_grad():
            g = model.generate(ids, 6, temperature=0.0)
        examples.append({"length": L, "depth": 0.5, "key": a.strip(), "prompt_bytes": len(ids),
                         "greedy_6": bytes(g).decode("latin-1")})
        print(f"example L={L}: expected {a!r}, greedy {bytes(g).decode('latin-1')!r}")
    info = {
        "model": "mamba2-passkey", "parameters": n_params, "state_elements": cfg.state_elements(),
        "d_state": args.d_state, "headdim": args.headdim,
        "seed": SEED, "steps": args.steps, "batch": args.batch,
        "steps_run": next((h["stopped_at_step"] for h in hist if "stopped_at_step" in h), args.steps),
        "time_budget_s": args.time_budget, "bucket": args.bucket, "init": args.init, "dt_init": args.dt_init, "lr": args.lr, "curriculum": args.curriculum if args.time_budget else None, "train_length": train_length(args.max_fillers),
        "train_seconds": round(secs), "final_train_answer_loss": tr_loss,
        "final_val_answer_loss": va_loss, "history": hist,
        "accuracy_by_length_depth": table, "keys_per_cell": KEYS_PER_CELL, "examples": examples,
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
