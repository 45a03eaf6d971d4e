"""The text models' shared data plan (train_text.py and s4d_text.py): the corpus split into
64 KiB pieces with every 20th piece held out for validation, fixed evaluation windows, the mean
next-byte loss over them, the sample prompts and the real-word share of generated text."""
import re

import numpy as np
import torch
import torch.nn.functional as F

PIECE = 65536
VAL_EVERY = 20
PROMPTS = ["In the beginning", "And Jesus said to them, ", "The king of Israel", "Love is "]


def split_corpus(data):
    """data: uint8 array -> (train, validation) arrays."""
    pieces = [data[i:i + PIECE] for i in range(0, len(data), PIECE)]
    val = [p for i, p in enumerate(pieces) if i % VAL_EVERY == VAL_EVERY - 1]
    tr = [p for i, p in enumerate(pieces) if i % VAL_EVERY != VAL_EVERY - 1]
    return np.concatenate(tr), np.concatenate(val)


def fixed_windows(arr, n, seq):
    """n evenly spaced windows of seq+1 bytes: deterministic evaluation set."""
    starts = np.linspace(0, len(arr) - seq - 2, n).astype(np.int64)
    return torch.from_numpy(np.stack([arr[s:s + seq + 1] for s in starts]).astype(np.int64))


def mean_loss(model, windows, bs=16):
    """Mean next-byte cross-entropy (nats) of model over the windows (logits over 256 bytes)."""
    tot = 0.0
    for i in range(0, len(windows), bs):
        w = windows[i:i + bs]
        logits = model(w[:, :-1])[..., :256]
        tot += F.cross_entropy(logits.reshape(-1, 256), w[:, 1:].reshape(-1)).item() * w.shape[0]
    return tot / len(windows)


def real_word_fraction(text, vocab):
    words = re.findall(r"[A-Za-z]+", text)
    return sum(w.lower() in vocab for w in words) / len(words) if words else 0.0
