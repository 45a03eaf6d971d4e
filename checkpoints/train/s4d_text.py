"""Train checkpoints/s4d-text: a byte-level S4D language model on the World English Bible (Debian
package sword-text-web, public domain), the corpus of checkpoints/mamba2-text, with the same
train / validation split, sequence length, batch size and evaluation windows as train_text.py.

The model is state-spaces/s4 example.py's S4Model with the minimal S4D layer of models/s4/s4d.py,
rewritten here in plain PyTorch with the same parameter names and the same math (no code copied):

    encoder      nn.Embedding(256, d_model)            (example.py uses nn.Linear for float inputs)
    s4_layers.i  S4D: D [H], kernel.{log_dt [H], C [H, N/2, 2], log_A_real [H, N/2], A_imag [H, N/2]},
                 output_linear.0 = Conv1d(H, 2H, 1) + GLU; y = GLU(W·GELU(K * u + D·u))
    norms.i      nn.LayerNorm(d_model)                  (post-norm: x = norm(x + layer(x)))
    decoder      nn.Linear(d_model, 256)                applied at every step (an LM, no pooling)

Training uses the convolution mode (kernel K_l = 2Re Σ C (exp(dtA) − 1)/A · exp(dtA·l), FFT with
n = 2L); the recurrent mode (x <- exp(dtA)·x + (exp(dtA) − 1)/A·u, y = 2Re(C·x)) is checked against
it before export and used for the sample generations. Optimiser as example.py's setup_optimizer:
the SSM parameters (log_dt, log_A_real, A_imag) get lr min(1e-3, lr) and no weight decay.

    apt-get install python3-torch python3-numpy sword-text-web
    /usr/bin/python3 checkpoints/train/s4d_text.py             # one thread, ~15 min on a busy 2-core machine

Options: --steps N, --minutes M (stop after M minutes of training, default 13), --init lin|inv,
--out DIR (default checkpoints/s4d-text).
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from corpus_web import corpus_text  # noqa: E402
from text_data import PROMPTS, fixed_windows, mean_loss, real_word_fraction, split_corpus  # noqa: E402

SEED = 1234
SEQ = 256           # as train_text.py
BATCH = 8           # as train_text.py


# ---------------------------------------------------------------- model

class S4DKernel(nn.Module):
    """models/s4/s4d.py S4DKernel: ZOH, B = 1, conjugate pairs halved (N/2 complex modes)."""

    def __init__(self, H, N=64, dt_min=0.001, dt_max=0.1, init="lin"):
        super().__init__()
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        C = torch.randn(H, N // 2, dtype=torch.cfloat)
        self.C = nn.Parameter(torch.view_as_real(C))
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
        n = torch.arange(N // 2, dtype=torch.float).repeat(H, 1)
        if init == "lin":     # S4D-Lin: A = -1/2 + i·pi·n
            A_imag = math.pi * n
        elif init == "inv":   # S4D-Inv: A = -1/2 + i·(N/pi)·(N/(2n+1) - 1)
            A_imag = (N / math.pi) * (N / (2 * n + 1) - 1)
        else:
            raise ValueError(init)
        self.A_imag = nn.Parameter(A_imag)

    def params(self):
        dt = torch.exp(self.log_dt)                              # (H)
        C = torch.view_as_complex(self.C)                        # (H N/2)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag       # (H N/2)
        return dt, A, C

    def forward(self, L):
        dt, A, C = self.params()
        dtA = A * dt.unsqueeze(-1)
        K = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)  # (H N/2 L)
        C = C * (torch.exp(dtA) - 1.0) / A
        return 2 * torch.einsum("hn, hnl -> hl", C, torch.exp(K)).real

    def discrete(self):
        dt, A, C = self.params()
        dtA = A * dt.unsqueeze(-1)
        return torch.exp(dtA), (torch.exp(dtA) - 1.0) / A, C    # dA, dB, dC


class S4D(nn.Module):
    def __init__(self, H, N=64, init="lin"):
        super().__init__()
        self.h, self.n = H, N
        self.D = nn.Parameter(torch.randn(H))
        self.kernel = S4DKernel(H, N=N, init=init)
        self.activation = nn.GELU()
        self.output_linear = nn.Sequential(nn.Conv1d(H, 2 * H, kernel_size=1), nn.GLU(dim=-2))

    def forward(self, u):
        """u: (B, H, L) -> (B, H, L), convolution mode."""
        L = u.size(-1)
        k = self.kernel(L=L)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        y = y + u * self.D.unsqueeze(-1)
        return self.output_linear(self.activation(y))

    def step(self, u, state, disc):
        """u: (B, H), state (B, H, N/2) complex -> y (B, H), state: recurrent mode."""
        dA, dB, dC = disc
        state = dA * state + dB * u.unsqueeze(-1)
        y = 2 * (dC * state).sum(-1).real + u * self.D
        y = self.output_linear(self.activation(y).unsqueeze(-1)).squeeze(-1)
        return y, state


class S4DLM(nn.Module):
    def __init__(self, d_model, n_layers, d_state, vocab=256, init="lin"):
        super().__init__()
        self.encoder = nn.Embedding(vocab, d_model)
        self.s4_layers = nn.ModuleList([S4D(d_model, N=d_state, init=init) for _ in range(n_layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(d_model) for _ in range(n_layers)])
        self.decoder = nn.Linear(d_model, vocab)

    def forward(self, ids):
        x = self.encoder(ids).transpose(-1, -2)                  # (B, H, L)
        for layer, norm in zip(self.s4_layers, self.norms):
            x = norm((layer(x) + x).transpose(-1, -2)).transpose(-1, -2)
        return self.decoder(x.transpose(-1, -2))                 # (B, L, V)

    def init_state(self, b=1):
        return [torch.zeros(b, l.h, l.n // 2, dtype=torch.cfloat) for l in self.s4_layers]

    def step(self, ids, states, discs):
        x = self.encoder(ids)                                    # (B, H)
        new = []
        for layer, norm, s, d in zip(self.s4_layers, self.norms, states, discs):
            y, s = layer.step(x, s, d)
            x = norm(y + x)
            new.append(s)
        return self.decoder(x), new

    @torch.no_grad()
    def generate(self, prompt, n_new, temperature=0.0, seed=0):
        discs = [l.kernel.discrete() for l in self.s4_layers]
        states = self.init_state()
        g = torch.Generator().manual_seed(seed)
        logits = None
        for t in prompt:
            logits, states = self.step(torch.tensor([t]), states, discs)
        out = []
        for _ in range(n_new):
            if temperature == 0:
                t = int(logits[0].argmax())
            else:
                p = torch.softmax(logits[0] / temperature, -1)
                t = int(torch.multinomial(p, 1, generator=g))
            out.append(t)
            logits, states = self.step(torch.tensor([t]), states, discs)
        return out


# ---------------------------------------------------------------- export

def save_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--minutes", type=float, default=13.0)
    ap.add_argument("--init", default="inv", choices=["lin", "inv"])
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d-state", type=int, default=64)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "s4d-text"))
    args = ap.parse_args()

    torch.set_num_threads(1)  # another engineer trains on this 2-core machine
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    text = corpus_text()
    data = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    train_arr, val_arr = split_corpus(data)
    vocab = set(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    print(f"corpus: {len(data)} bytes; train {len(train_arr)}, validation {len(val_arr)}")

    model = S4DLM(args.d_model, args.layers, args.d_state, init=args.init)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters; state {args.layers}x{args.d_model}x{args.d_state // 2} complex")

    ssm = [p for n, p in model.named_parameters() if n.split(".")[-1] in ("log_dt", "log_A_real", "A_imag")]
    ids_ssm = {id(p) for p in ssm}
    decay = [p for n, p in model.named_parameters() if id(p) not in ids_ssm and p.ndim >= 2 and "encoder" not in n]
    rest = [p for p in model.parameters() if id(p) not in ids_ssm and all(p is not q for q in decay)]
    opt = torch.optim.AdamW([
        {"params": decay, "weight_decay": 0.01, "lr_scale": 1.0},
        {"params": rest, "weight_decay": 0.0, "lr_scale": 1.0},
        {"params": ssm, "weight_decay": 0.0, "lr_scale": min(1e-3, args.lr) / args.lr},
    ], lr=args.lr, betas=(0.9, 0.98))

    val_w = fixed_windows(val_arr, 64, SEQ)
    train_w = fixed_windows(train_arr, 64, SEQ)
    budget = args.minutes * 60
    warmup = 50
    hist = []
    t0 = time.time()
    ema = None
    step = 0
    # the schedule needs a length: estimate the step count from the first 20 steps' speed
    total = args.steps
    while step < total:
        el = time.time() - t0
        if el > budget:
            break
        if step == 20:
            total = min(args.steps, int(budget / (el / 20)))
            print(f"~{el / 20:.2f} s/step -> {total} steps in {args.minutes} min", flush=True)
        prog = 0.0 if step < warmup else (step - warmup) / max(1, total - warmup)
        scale = (step + 1) / warmup if step < warmup else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, prog)))
        for g in opt.param_groups:
            g["lr"] = args.lr * scale * g["lr_scale"]
        starts = rng.integers(0, len(train_arr) - SEQ - 1, BATCH)
        w = torch.from_numpy(np.stack([train_arr[s:s + SEQ + 1] for s in starts]).astype(np.int64))
        loss = F.cross_entropy(model(w[:, :-1]).reshape(-1, 256), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        step += 1
        if step % 25 == 0:
            print(f"step {step}/{total}  loss {loss.item():.4f} (ema {ema:.4f})  {time.time() - t0:.0f}s", flush=True)
        if step % 200 == 0:
            model.eval()
            with torch.no_grad():
                v = mean_loss(model, val_w)
            model.train()
            hist.append({"step": step, "val_loss": v, "val_bpb": v / math.log(2), "train_loss_ema": ema,
                         "seconds": round(time.time() - t0)})
            print(f"eval @ {step}: val loss {v:.4f} ({v / math.log(2):.4f} bpb)", flush=True)
    secs = time.time() - t0
    model.eval()
    with torch.no_grad():
        tr_loss = mean_loss(model, train_w)
        va_loss = mean_loss(model, val_w)
        # convolution mode == recurrent mode on a validation window
        x = val_w[0, :128]
        conv = model(x.unsqueeze(0))[0]
        discs = [l.kernel.discrete() for l in model.s4_layers]
        st = model.init_state()
        rec = []
        for t in x:
            lg, st = model.step(t.view(1), st, discs)
            rec.append(lg[0])
        conv_vs_step = (conv - torch.stack(rec)).abs().max().item()
    print(f"final after {step} steps ({secs:.0f} s): train loss {tr_loss:.4f} nats/byte ({tr_loss / math.log(2):.4f} bpb), "
          f"validation {va_loss:.4f} ({va_loss / math.log(2):.4f} bpb); |conv - step| logits {conv_vs_step:.2e}")
    assert conv_vs_step < 1e-3

    samples = []
    for i, p in enumerate(PROMPTS):
        ids = list(p.encode("ascii"))
        g_txt = bytes(model.generate(ids, 200, temperature=0.0)).decode("latin-1")
        s_txt = bytes(model.generate(ids, 200, temperature=0.8, seed=i + 1)).decode("latin-1")
        samples.append({"prompt": p, "greedy_text": g_txt, "sampled_t0.8_seed": i + 1, "sampled_text": s_txt,
                        "greedy_real_word_fraction": real_word_fraction(g_txt, vocab),
                        "sampled_real_word_fraction": real_word_fraction(s_txt, vocab)})
        print(f"--- prompt {p!r}\n  greedy : {g_txt!r}\n  T=0.8  : {s_txt!r}")
    rwg = float(np.mean([s["greedy_real_word_fraction"] for s in samples]))
    rw = float(np.mean([s["sampled_real_word_fraction"] for s in samples]))
    print(f"real-word fraction: greedy {rwg:.3f}, T=0.8 {rw:.3f}")

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), model.state_dict(), {"format": "pt"})
    config = {
        "model_type": "s4", "block": "S4D", "vocab_size": 256, "d_output": 256, "d_model": args.d_model,
        "n_layers": args.layers, "d_state": args.d_state, "prenorm": False, "dropout": 0.0, "mode": "s4d",
        "init": f"diag-{args.init}", "disc": "zoh", "dt_min": 0.001, "dt_max": 0.1, "pooling": "none",
        "bidirectional": False, "activation": "gelu", "final_act": "glu", "train_length": SEQ, "tokenizer": "bytes",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    try:
        from mamba2 import byte_level_tokenizer_json  # the same byte tokenizer as mamba2-text
        with open(os.path.join(out, "tokenizer.json"), "w") as f:
            json.dump(byte_level_tokenizer_json(), f)
    except ImportError:
        pass
    # golden logits for scanstream's parity test: the conv-mode logits of one validation window
    gold_ids = val_w[1, :96]
    with torch.no_grad():
        gold = model(gold_ids.unsqueeze(0))[0]
    info = {
        "model": "s4d-text", "parameters": n_params, "init": args.init,
        "d_model": args.d_model, "n_layers": args.layers, "d_state": args.d_state,
        "seed": SEED, "steps": step, "batch": BATCH, "seq_len": SEQ, "bytes_seen": step * BATCH * SEQ,
        "peak_lr": args.lr, "ssm_lr": min(1e-3, args.lr), "threads": 1, "train_seconds": round(secs),
        "final_train_loss_nats": tr_loss, "final_val_loss_nats": va_loss,
        "final_train_bpb": tr_loss / math.log(2), "final_val_bpb": va_loss / math.log(2),
        "conv_vs_step_max_abs_logit": conv_vs_step, "history": hist,
        "real_word_fraction_greedy": rwg, "real_word_fraction_t0.8": rw, "samples": samples,
        "golden": {"ids": gold_ids.tolist(), "logits_last": gold[-1].tolist(), "logits_rows": [0, 47, 95],
                   "logits": gold[[0, 47, 95]].flatten().tolist()},
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
