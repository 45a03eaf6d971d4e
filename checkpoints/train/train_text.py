"""Train checkpoints/mamba2-text: a byte-level Mamba-2 LM on the World English Bible
(Debian package sword-text-web, public domain).

    apt-get install python3-torch python3-numpy sword-text-web
    /usr/bin/python3 checkpoints/train/train_text.py   # the shipped run: 42 min wall on 2 shared, busy CPU cores

Options: --steps N (default 400), --out DIR (default checkpoints/mamba2-text).
"""
import argparse
import json
import math
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402  (sets OMP_WAIT_POLICY before torch is imported)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from corpus_web import corpus_text  # noqa: E402
from text_data import PROMPTS, fixed_windows, mean_loss, real_word_fraction, split_corpus  # noqa: E402
from mamba2 import Config, Mamba2LM, export, load_exported, self_test  # noqa: E402

SEED = 1234
SEQ = 256
BATCH = 8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "mamba2-text"))
    args = ap.parse_args()

    self_test()
    common.seed_all(SEED)
    common.set_threads()
    text = corpus_text()
    data = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    train_arr, val_arr = split_corpus(data)
    print(f"corpus: {len(data)} bytes; train {len(train_arr)}, validation {len(val_arr)}")
    vocab = set(w.lower() for w in re.findall(r"[A-Za-z]+", text))

    cfg = Config(d_model=384, n_layer=4, vocab_size=256, d_state=32, d_conv=4, expand=2,
                 headdim=64, ngroups=1, chunk_size=64, pad_vocab_size_multiple=8)
    model = Mamba2LM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters, recurrent state {cfg.state_elements()} floats")

    rng = np.random.default_rng(SEED)
    val_w = fixed_windows(val_arr, 64, SEQ)
    train_w = fixed_windows(train_arr, 64, SEQ)

    def get_batch(step):
        starts = rng.integers(0, len(train_arr) - SEQ - 1, BATCH)
        w = torch.from_numpy(np.stack([train_arr[s:s + SEQ + 1] for s in starts]).astype(np.int64))
        return w[:, :-1], w[:, 1:], None

    def evaluate():
        v = mean_loss(model, val_w)
        return {"val_loss": v, "val_bpb": v / math.log(2)}

    hist, secs = common.train(model, get_batch, args.steps, lr=2e-3, warmup=30, log_every=10,
                              evaluate=evaluate, eval_every=50)
    model.eval()
    with torch.no_grad():
        tr_loss = mean_loss(model, train_w)
        va_loss = mean_loss(model, val_w)
    print(f"final: train loss {tr_loss:.4f} nats/byte ({tr_loss / math.log(2):.4f} bpb), "
          f"validation loss {va_loss:.4f} nats/byte ({va_loss / math.log(2):.4f} bpb)")

    samples = []
    for i, p in enumerate(PROMPTS):
        ids = list(p.encode("ascii"))
        greedy = model.generate(ids, 200, temperature=0.0)
        sampled = model.generate(ids, 200, temperature=0.8, seed=i + 1)
        g_txt = bytes(greedy).decode("latin-1")
        s_txt = bytes(sampled).decode("latin-1")
        samples.append({"prompt": p, "prompt_ids": ids, "greedy_ids": greedy, "greedy_text": g_txt,
                        "sampled_t0.8_seed": i + 1, "sampled_text": s_txt,
                        "greedy_real_word_fraction": real_word_fraction(g_txt, vocab),
                        "sampled_real_word_fraction": real_word_fraction(s_txt, vocab)})
        print(f"--- prompt {p!r}\n  greedy : {g_txt!r}\n  T=0.8  : {s_txt!r}")
    rw = float(np.mean([s["sampled_real_word_fraction"] for s in samples]))
    rwg = float(np.mean([s["greedy_real_word_fraction"] for s in samples]))
    print(f"real-word fraction (words found in the corpus): greedy {rwg:.3f}, T=0.8 {rw:.3f}")

    out = os.path.abspath(args.out)
    export(model, out, extra_config={"train_length": SEQ, "tokenizer": "bytes"})
    # round trip: the exported files give the same logits
    re_m = load_exported(out)
    with torch.no_grad():
        d = (re_m(val_w[:2, :-1]) - model(val_w[:2, :-1])).abs().max().item()
    print(f"export round trip max abs logit diff {d:.2e}")
    assert d < 1e-4
    info = {
        "model": "mamba2-text",
        "parameters": n_params,
        "state_elements": cfg.state_elements(),
        "seed": SEED, "steps": args.steps, "batch": BATCH, "seq_len": SEQ,
        "bytes_seen": args.steps * BATCH * SEQ,
        "train_seconds": round(secs),
        "final_train_loss_nats": tr_loss, "final_val_loss_nats": va_loss,
        "final_val_bpb": va_loss / math.log(2), "final_train_bpb": tr_loss / math.log(2),
        "history": hist,
        "real_word_fraction_greedy": rwg, "real_word_fraction_t0.8": rw,
        "samples": samples,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
