"""A plain-PyTorch Mamba-2 language model (state-spaces `MambaLMHeadModel` layout),
trainable on CPU, plus a safetensors / config.json / tokenizer.json exporter.

The math follows shared/reference/mamba2.md (mamba_ssm `Mamba2` with its defaults
bias=False, conv_bias=True, rmsnorm=True, norm_before_gate=False, D_has_hdim=False,
dt_limit=(0, inf), d_mlp=0).  Parameter names equal mamba_ssm's, so the state dict
exports 1:1 to `backbone.layers.{i}.mixer.*`.

Shape letters (as in mamba-minimal):
    b batch, l sequence length, d d_model, e d_inner = expand*d_model,
    h nheads, p headdim, n d_state, g ngroups, k d_conv, c chunks, q chunk length, v vocab
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5


class Config:
    def __init__(self, d_model=256, n_layer=4, vocab_size=256, d_state=64, d_conv=4,
                 expand=2, headdim=32, ngroups=1, chunk_size=64, pad_vocab_size_multiple=8):
        self.d_model, self.n_layer, self.vocab_size = d_model, n_layer, vocab_size
        self.d_state, self.d_conv, self.expand = d_state, d_conv, expand
        self.headdim, self.ngroups, self.chunk_size = headdim, ngroups, chunk_size
        self.pad_vocab_size_multiple = pad_vocab_size_multiple
        self.d_inner = expand * d_model
        assert self.d_inner % headdim == 0
        self.nheads = self.d_inner // headdim
        assert self.nheads % ngroups == 0
        m = pad_vocab_size_multiple
        self.padded_vocab = vocab_size + (m - vocab_size % m) % m

    def state_elements(self):
        """Recurrent state size per sequence (SSM + conv windows of d_conv-1 columns)."""
        conv_dim = self.d_inner + 2 * self.ngroups * self.d_state
        return self.n_layer * (self.nheads * self.headdim * self.d_state + conv_dim * (self.d_conv - 1))

    def to_json(self, **extra):
        cfg = {
            "d_model": self.d_model,
            "d_intermediate": 0,
            "n_layer": self.n_layer,
            "vocab_size": self.vocab_size,
            "ssm_cfg": {
                "layer": "Mamba2",
                "d_state": self.d_state,
                "d_conv": self.d_conv,
                "expand": self.expand,
                "headdim": self.headdim,
                "ngroups": self.ngroups,
                "chunk_size": self.chunk_size,
            },
            "attn_layer_idx": [],
            "attn_cfg": {},
            "rms_norm": True,
            "residual_in_fp32": True,
            "fused_add_norm": True,
            "pad_vocab_size_multiple": self.pad_vocab_size_multiple,
            "tie_embeddings": True,
        }
        cfg.update(extra)
        return cfg


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight


class RMSNormGated(nn.Module):
    """norm_before_gate=False: rmsnorm(y * silu(z)) per group of d_inner/ngroups channels."""

    def __init__(self, d, ngroups):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.ngroups = ngroups

    def forward(self, y, z):
        v = y * F.silu(z)
        shp = v.shape
        v = v.reshape(*shp[:-1], self.ngroups, shp[-1] // self.ngroups)
        v = v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + EPS)
        return v.reshape(shp) * self.weight


def ssd_chunked(x, a, B, C, chunk, initial_state=None):
    """Chunked SSD (the 4 steps of mamba2.md section 5), ngroups = 1 broadcast over heads,
    arranged as large batched matmuls for CPU training.
    x: [b, l, h, p] (already multiplied by dt), a: [b, l, h] (= dt*A <= 0),
    B, C: [b, l, n].  l must be a multiple of chunk (q).
    Returns y: [b, l, h, p], final_state: [b, h, p, n]."""
    b, l, h, p = x.shape
    n = B.shape[-1]
    q = chunk
    c = l // q
    xh = x.reshape(b, c, q, h, p).permute(0, 1, 3, 2, 4)       # [b, c, h, q, p]
    acs = torch.cumsum(a.reshape(b, c, q, h).transpose(2, 3), -1)  # [b, c, h, q] chunk-local
    B = B.reshape(b, c, q, n)
    C = C.reshape(b, c, q, n)
    # 1. intra-chunk: y_diag[i] = sum_{j<=i} (C_i.B_j) exp(acs_i - acs_j) xbar_j
    mask = torch.tril(torch.ones(q, q, dtype=torch.bool, device=x.device))
    L = torch.exp((acs[..., :, None] - acs[..., None, :]).masked_fill(~mask, -math.inf))  # [b,c,h,q,q]
    CB = C @ B.transpose(-1, -2)                                 # [b, c, q, q]
    y_diag = (L * CB[:, :, None]) @ xh                           # [b, c, h, q, p]
    # 2. chunk states: S_c = sum_j exp(acs_last - acs_j) xbar_j (x) B_j
    xs = xh * torch.exp(acs[..., -1:] - acs)[..., None]          # [b, c, h, q, p]
    states = xs.transpose(-1, -2).reshape(b, c, h * p, q) @ B    # [b, c, h*p, n]
    states = states.reshape(b, c, h, p, n)
    # 3. inter-chunk state passing: H_{c+1} = exp(acs_last) H_c + S_c
    chunk_decay = torch.exp(acs[..., -1])                        # [b, c, h]
    H = torch.zeros(b, h, p, n, dtype=x.dtype, device=x.device) if initial_state is None else initial_state
    Hs = []
    for ci in range(c):
        Hs.append(H)
        H = chunk_decay[:, ci, :, None, None] * H + states[:, ci]
    Hin = torch.stack(Hs, 1)                                     # [b, c, h, p, n]
    # 4. state -> output: y_off[i] = exp(acs_i) (H_c . C_i)
    y_off = C @ Hin.reshape(b, c, h * p, n).transpose(-1, -2)    # [b, c, q, h*p]
    y_off = y_off.reshape(b, c, q, h, p) * torch.exp(acs).transpose(2, 3)[..., None]
    y = y_diag.transpose(2, 3) + y_off                           # [b, c, q, h, p]
    return y.reshape(b, l, h, p), H


def ssd_sequential(x, a, B, C, initial_state=None):
    """Token-by-token recurrence (reference). Same arguments as ssd_chunked (any l)."""
    b, l, h, p = x.shape
    n = B.shape[-1]
    S = torch.zeros(b, h, p, n, dtype=x.dtype) if initial_state is None else initial_state.clone()
    ys = []
    for t in range(l):
        S = torch.exp(a[:, t])[:, :, None, None] * S + x[:, t, :, :, None] * B[:, t, None, None, :]
        ys.append(torch.einsum("bhpn,bn->bhp", S, C[:, t]))
    return torch.stack(ys, 1), S


class Mamba2Mixer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        e, n, g, h = cfg.d_inner, cfg.d_state, cfg.ngroups, cfg.nheads
        assert g == 1, "training code supports ngroups=1 only"
        self.conv_dim = e + 2 * g * n
        self.in_proj = nn.Linear(cfg.d_model, 2 * e + 2 * g * n + h, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, cfg.d_conv, groups=self.conv_dim,
                                padding=cfg.d_conv - 1, bias=True)
        # mamba_ssm init: dt ~ logU(1e-3, 1e-1), dt_bias = softplus^-1(dt); A ~ U(1, 16)
        dt = torch.exp(torch.rand(h) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(h).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(h))
        self.norm = RMSNormGated(e, g)
        self.out_proj = nn.Linear(e, cfg.d_model, bias=False)

    def pre_ssm(self, u):
        cfg = self.cfg
        e, n, h = cfg.d_inner, cfg.d_state, cfg.nheads
        zxbcdt = self.in_proj(u)                                           # [b, l, 2e+2n+h]
        z, xBC, dt = torch.split(zxbcdt, [e, e + 2 * n, h], dim=-1)
        l = u.shape[1]
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :l].transpose(1, 2))
        x, B, C = torch.split(xBC, [e, n, n], dim=-1)
        dt = F.softplus(dt + self.dt_bias)                                 # [b, l, h]
        A = -torch.exp(self.A_log)                                         # [h]
        x = x.reshape(*x.shape[:2], h, cfg.headdim)                        # [b, l, h, p]
        return z, x, B, C, dt, A

    def forward(self, u, sequential=False):
        """u: [b, l, d] -> [b, l, d]"""
        cfg = self.cfg
        z, x, B, C, dt, A = self.pre_ssm(u)
        b, l = u.shape[:2]
        xd, a = x * dt[..., None], dt * A
        if sequential:
            y, _ = ssd_sequential(xd, a, B, C)
        else:
            q = cfg.chunk_size
            pad = (q - l % q) % q
            if pad:  # pad with dt=0, x=0, B=C=0: no decay, no contribution
                xd = F.pad(xd, (0, 0, 0, 0, 0, pad))
                a = F.pad(a, (0, 0, 0, pad))
                B = F.pad(B, (0, 0, 0, pad))
                C = F.pad(C, (0, 0, 0, pad))
            y, _ = ssd_chunked(xd, a, B, C, q)
            y = y[:, :l]
        y = y + x * self.D[:, None]
        y = y.reshape(b, l, cfg.d_inner)
        return self.out_proj(self.norm(y, z))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = RMSNorm(cfg.d_model)
        self.mixer = Mamba2Mixer(cfg)


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embedding = nn.Embedding(cfg.padded_vocab, cfg.d_model)
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.norm_f = RMSNorm(cfg.d_model)


class Mamba2LM(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        nn.init.normal_(self.backbone.embedding.weight, std=0.02)
        # mamba_ssm _init_weights: rescale out_proj by 1/sqrt(n_layer) (prenorm residual)
        for blk in self.backbone.layers:
            nn.init.kaiming_uniform_(blk.mixer.out_proj.weight, a=math.sqrt(5))
            with torch.no_grad():
                blk.mixer.out_proj.weight /= math.sqrt(cfg.n_layer)

    def forward(self, ids, sequential=False):
        """ids: [b, l] int64 -> logits [b, l, padded_vocab]"""
        hdn = self.backbone.embedding(ids)
        for blk in self.backbone.layers:
            hdn = hdn + blk.mixer(blk.norm(hdn), sequential=sequential)
        hdn = self.backbone.norm_f(hdn)
        return hdn @ self.backbone.embedding.weight.t()

    @torch.no_grad()
    def generate(self, prompt_ids, n_new, temperature=0.0, seed=0, stop=None):
        """Simple (quadratic, re-prefill) sampler for checks. Greedy if temperature == 0."""
        g = torch.Generator().manual_seed(seed)
        dev = self.backbone.embedding.weight.device
        ids = list(prompt_ids)
        out = []
        for _ in range(n_new):
            logits = self.forward(torch.tensor([ids], device=dev))[0, -1, : self.cfg.vocab_size].cpu()
            if temperature <= 0:
                t = int(logits.argmax())
            else:
                pr = torch.softmax(logits / temperature, -1)
                t = int(torch.multinomial(pr, 1, generator=g))
            ids.append(t)
            out.append(t)
            if stop is not None and t in stop:
                break
        return out


# ---------------------------------------------------------------- export ---------

_DT = {torch.float32: ("F32", np.float32), torch.float16: ("F16", np.float16)}


def save_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch tensor. Writes safetensors by hand (u64 LE header length,
    JSON header, raw little-endian row-major data), keys sorted, 8-byte aligned header."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        code, npdt = _DT[t.dtype]
        data = t.numpy().astype(np.dtype(npdt).newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for bl in blobs:
            f.write(bl)
    import os
    os.replace(tmp, path)


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        npdt = {"F32": "<f4", "F16": "<f2"}[info["dtype"]]
        b0, b1 = info["data_offsets"]
        arr = np.frombuffer(raw[base + b0: base + b1], dtype=npdt).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


def byte_level_tokenizer_json():
    """A Hugging Face `tokenizers` tokenizer.json for a pure byte vocabulary: id i = byte i.
    Byte-level BPE with the GPT-2 byte->unicode alphabet, no merges, no regex split, so every
    byte is its own token and decoding maps the characters back to bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_to_char = dict(zip(bs, [chr(c) for c in cs]))
    vocab = {byte_to_char[b]: b for b in range(256)}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                          "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": []},
    }


def write_checkpoint(outdir, tensors, generator, config):
    """A scanstream-loadable folder: model.safetensors, config.json and the byte-level tokenizer.json."""
    import os
    os.makedirs(outdir, exist_ok=True)
    save_safetensors(os.path.join(outdir, "model.safetensors"), tensors, {"format": "pt", "generator": generator})
    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(outdir, "tokenizer.json"), "w") as f:
        json.dump(byte_level_tokenizer_json(), f, ensure_ascii=False, indent=1)
        f.write("\n")


def export(model: Mamba2LM, outdir, dtype=torch.float32, extra_config=None):
    sd = {k: v.to(dtype) for k, v in model.state_dict().items()}
    write_checkpoint(outdir, sd, "scanstream checkpoints/train/mamba2.py", model.cfg.to_json(**(extra_config or {})))


def load_exported(outdir):
    import os
    cfgj = json.load(open(os.path.join(outdir, "config.json")))
    s = cfgj["ssm_cfg"]
    cfg = Config(d_model=cfgj["d_model"], n_layer=cfgj["n_layer"], vocab_size=cfgj["vocab_size"],
                 d_state=s["d_state"], d_conv=s["d_conv"], expand=s["expand"], headdim=s["headdim"],
                 ngroups=s["ngroups"], chunk_size=s["chunk_size"],
                 pad_vocab_size_multiple=cfgj["pad_vocab_size_multiple"])
    m = Mamba2LM(cfg)
    sd = load_safetensors(os.path.join(outdir, "model.safetensors"))
    sd.pop("lm_head.weight", None)
    m.load_state_dict(sd)
    return m


# ---------------------------------------------------------------- self-test ------

def self_test():
    """Chunked SSD == sequential recurrence; whole model matches the shared golden fixture."""
    import os
    torch.manual_seed(0)
    b, l, h, p, n = 2, 150, 4, 8, 16
    x = torch.randn(b, l, h, p, dtype=torch.float64)
    a = -torch.rand(b, l, h, dtype=torch.float64) * 0.5
    B = torch.randn(b, l, n, dtype=torch.float64)
    C = torch.randn(b, l, n, dtype=torch.float64)
    S0 = torch.randn(b, h, p, n, dtype=torch.float64)
    lp = 192
    pad = lambda t, dims: F.pad(t, dims)
    yc, Sc = ssd_chunked(pad(x, (0, 0, 0, 0, 0, lp - l)), pad(a, (0, 0, 0, lp - l)),
                         pad(B, (0, 0, 0, lp - l)), pad(C, (0, 0, 0, lp - l)), 64, S0)
    ys, Ss = ssd_sequential(x, a, B, C, S0)
    err = max((yc[:, :l] - ys).abs().max().item(), (Sc - Ss).abs().max().item())
    print(f"self-test: chunked vs sequential SSD max abs err {err:.2e}")
    assert err < 1e-9, err
    cfg = Config(d_model=64, n_layer=2, d_state=16, headdim=16, chunk_size=32)
    m = Mamba2LM(cfg).double()
    ids = torch.randint(0, 256, (1, 70))
    e2 = (m(ids) - m(ids, sequential=True)).abs().max().item()
    print(f"self-test: model chunked vs sequential max abs err {e2:.2e}")
    assert e2 < 1e-9
    gold = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "golden",
                        "m2_ss_v256_g1_tied_f32")
    for cand in [gold, "/work/shared/fixtures/golden/m2_ss_v256_g1_tied_f32"]:
        if os.path.exists(os.path.join(cand, "golden_logits.npy")):
            gm = load_exported(cand).double()
            toks = json.load(open(os.path.join(cand, "tokens.json")))
            if isinstance(toks, dict):
                toks = toks.get("tokens") or toks.get("ids") or next(iter(toks.values()))
            ref = np.load(os.path.join(cand, "golden_logits.npy"))
            with torch.no_grad():
                out = gm(torch.tensor([toks]))[0].numpy()
            e3 = float(np.abs(out[:, : ref.shape[1]] - ref).max())
            print(f"self-test: golden fixture m2_ss_v256_g1_tied_f32 max abs logit err {e3:.2e}")
            assert e3 < 1e-4, e3
            break
    else:
        print("self-test: golden fixture not found, skipped")


if __name__ == "__main__":
    self_test()
