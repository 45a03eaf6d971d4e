"""Golden outputs for scanstream's S4 / S4D models, computed by the state-spaces/s4 code itself.

Loads models/s4/s4.py and models/s4/s4d.py from a checkout of https://github.com/state-spaces/s4
(tested at e757cef57d89e448c413de7325ed5601aceaac13, Apache-2.0; nothing of it is copied here), with
small stand-ins for the modules that code imports but this machine lacks (einops' rearrange / repeat
for the patterns s4.py uses, pytorch_lightning's rank_zero_only, scipy.special, src.models.nn).
Builds tiny models with example.py's S4Model wrapper (encoder, s4_layers, norms, decoder), runs them
in convolution mode (forward) and in recurrent mode (setup_step + step), and writes per fixture:

    model.safetensors   the state dict, parameter names as in the s4 code (C stored as C~ with
                        l_kernel for the DPLR one, exactly as after a forward pass)
    config.json         scanstream's S4 config (docs/s4.md)
    golden.json         inputs, per-step outputs of the forward pass and of the step pass

Usage: /usr/bin/python3 checkpoints/train/s4_golden.py /path/to/s4-checkout test/fixtures/s4
"""
import importlib.util
import json
import math
import os
import re
import struct
import sys
import types

import torch
import torch.nn as nn

torch.set_num_threads(1)


# ---------------------------------------------------------------- stand-ins for missing modules

def _parse(side):
    toks = re.findall(r"\([^)]*\)|\.\.\.|\S+", side)
    return [t[1:-1].split() if t.startswith("(") else t for t in toks]


def _einops(x, pattern, **sizes):
    """rearrange / repeat for the patterns of s4.py: names, '1', '...', '(groups)', new axes on the right."""
    lhs, rhs = [_parse(s) for s in pattern.split("->")]
    n_fixed = sum(1 for t in lhs if t != "...")
    n_ell = x.dim() - n_fixed
    elem, shape = [], []  # elementary axes of the input after splitting groups
    d = 0
    for t in lhs:
        if t == "...":
            for k in range(n_ell):
                elem.append(f"_e{k}")
                shape.append(x.shape[d])
                d += 1
            continue
        group = t if isinstance(t, list) else [t]
        known = 1
        unknown = None
        for g in group:
            if g == "1":
                continue
            if g in sizes:
                known *= sizes[g]
            else:
                unknown = g
        for g in group:
            if g == "1":
                elem.append("_one")
                shape.append(1)
            elif g in sizes:
                elem.append(g)
                shape.append(sizes[g])
            else:
                elem.append(g)
                shape.append(x.shape[d] // known)
                sizes[g] = x.shape[d] // known
        d += 1
    x = x.reshape(shape)
    keep = [i for i, e in enumerate(elem) if e != "_one"]
    x = x.reshape([shape[i] for i in keep])
    names = [elem[i] for i in keep]
    out_elem = []
    for t in rhs:
        if t == "...":
            out_elem += [f"_e{k}" for k in range(n_ell)]
        elif isinstance(t, list):
            out_elem += t
        else:
            out_elem.append(t)
    present = [e for e in out_elem if e in names]
    x = x.permute([names.index(e) for e in present])
    full = []
    for e in out_elem:
        full.append(sizes[e] if e not in names and e != "1" else (1 if e == "1" else x.shape[present.index(e)]))
    view = []
    for e in out_elem:
        view.append(x.shape[present.index(e)] if e in present else 1)
    x = x.reshape(view).expand(full)
    final = []
    i = 0
    for t in rhs:
        if t == "...":
            for _ in range(n_ell):
                final.append(full[i]); i += 1
        elif isinstance(t, list):
            n = 1
            for _ in t:
                n *= full[i]; i += 1
            final.append(n)
        else:
            final.append(full[i]); i += 1
    return x.reshape(final).contiguous()


def install_shims():
    einops = types.ModuleType("einops")
    einops.rearrange = lambda x, p, **s: _einops(x, p, **s)
    einops.repeat = lambda x, p, **s: _einops(x, p, **s)
    sys.modules["einops"] = einops
    pl = types.ModuleType("pytorch_lightning")
    plu = types.ModuleType("pytorch_lightning.utilities")
    plu.rank_zero_only = lambda f: f
    pl.utilities = plu
    sys.modules["pytorch_lightning"] = pl
    sys.modules["pytorch_lightning.utilities"] = plu
    scipy = types.ModuleType("scipy")
    scipy.special = types.ModuleType("scipy.special")
    sys.modules["scipy"] = scipy
    sys.modules["scipy.special"] = scipy.special


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- example.py's S4Model (LM or sequence)

class S4Model(nn.Module):
    """example.py S4Model; `vocab` makes the encoder an nn.Embedding and decodes every step."""

    def __init__(self, make_layer, d_input, d_output, d_model, n_layers, prenorm, vocab=None):
        super().__init__()
        self.prenorm = prenorm
        self.encoder = nn.Embedding(vocab, d_model) if vocab else nn.Linear(d_input, d_model)
        self.s4_layers = nn.ModuleList([make_layer() for _ in range(n_layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(d_model) for _ in range(n_layers)])
        self.decoder = nn.Linear(d_model, d_output)

    def forward(self, x):
        x = self.encoder(x).transpose(-1, -2)  # (B, H, L)
        for layer, norm in zip(self.s4_layers, self.norms):
            z = x
            if self.prenorm:
                z = norm(z.transpose(-1, -2)).transpose(-1, -2)
            z, _ = layer(z)
            x = z + x
            if not self.prenorm:
                x = norm(x.transpose(-1, -2)).transpose(-1, -2)
        return self.decoder(x.transpose(-1, -2))  # per-step outputs (B, L, d_output), before pooling

    def step_all(self, x):
        """Recurrent mode: setup_step() then one step per position."""
        for layer in self.s4_layers:
            layer.setup_step()
        states = [layer.default_state(x.shape[0]) for layer in self.s4_layers]
        e = self.encoder(x)  # (B, L, H)
        outs = []
        for t in range(e.shape[1]):
            h = e[:, t]
            for i, (layer, norm) in enumerate(zip(self.s4_layers, self.norms)):
                z = norm(h) if self.prenorm else h
                z, states[i] = layer.step(z, states[i])
                h = z + h
                if not self.prenorm:
                    h = norm(h)
            outs.append(self.decoder(h))
        return torch.stack(outs, 1)


class S4DStep(nn.Module):
    """s4d.py's S4D has no step(); this adds the S4D recurrence with the same parameters (ZOH)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, u):
        return self.inner(u)

    def setup_step(self):
        k = self.inner.kernel
        dt = torch.exp(k.log_dt)
        A = -torch.exp(k.log_A_real) + 1j * k.A_imag
        dtA = A * dt.unsqueeze(-1)
        self.dA = torch.exp(dtA)
        self.dB = (torch.exp(dtA) - 1.0) / A
        self.dC = torch.view_as_complex(k.C)

    def default_state(self, b):
        return torch.zeros(b, self.inner.h, self.inner.n // 2, dtype=torch.cfloat)

    def step(self, u, state):
        state = self.dA * state + self.dB * u.unsqueeze(-1)
        y = 2 * (self.dC * state).sum(-1).real + u * self.inner.D
        y = self.inner.activation(y)
        y = self.inner.output_linear(y.unsqueeze(-1)).squeeze(-1)
        return y, state


# ---------------------------------------------------------------- safetensors

def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.int64:
            dtype, b = "I64", t.numpy().astype("<i8").tobytes()
        else:
            dtype, b = "F32", t.float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_fixture(outdir, name, model, config, inputs, conv_out, step_out):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, "model.safetensors"), model.state_dict())
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    golden = {
        "source": "state-spaces/s4 models/s4 (forward = convolution mode, step = setup_step + step)",
        "input_shape": list(inputs.shape),
        "input": inputs.flatten().tolist(),
        "forward": conv_out[0].flatten().tolist(),
        "step": step_out[0].flatten().tolist(),
        "output_shape": list(conv_out[0].shape),
        "max_abs_forward_vs_step": float((conv_out - step_out).abs().max()),
    }
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(golden, f)
    print(f"{name}: {list(conv_out.shape)}, |forward - step| = {golden['max_abs_forward_vs_step']:.2e}")


def perturb(model, seed):
    """Random non-default values for D, norms and biases (inits are 1 / 0 / ones)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.startswith("norms.") or n.endswith(".D") or n.endswith("bias"):
                p.add_(0.3 * torch.randn(p.shape, generator=g))


def main():
    repo, outdir = sys.argv[1], sys.argv[2]
    install_shims()
    s4 = load_module("s4_upstream", os.path.join(repo, "models/s4/s4.py"))
    nnmod = types.ModuleType("src.models.nn")
    nnmod.DropoutNd = s4.DropoutNd
    sys.modules["src"] = types.ModuleType("src")
    sys.modules["src.models"] = types.ModuleType("src.models")
    sys.modules["src.models.nn"] = nnmod
    s4d = load_module("s4d_upstream", os.path.join(repo, "models/s4/s4d.py"))

    # 1. s4d.py S4D layers, sequence model on float inputs (example.py as it is)
    torch.manual_seed(0)
    m = S4Model(lambda: S4DStep(s4d.S4D(8, d_state=8, transposed=True)), 3, 2, 8, 2, prenorm=False).eval()
    perturb(m, 1)
    # wrap names: S4DStep adds an ".inner" level that s4d.py does not have -> save the inner names
    x = torch.randn(1, 50, 3)
    with torch.no_grad():
        conv, step = m(x), m.step_all(x)
    sd = {k.replace(".inner.", "."): v for k, v in m.state_dict().items()}
    m.state_dict = lambda: sd
    write_fixture(outdir, "s4d_minimal_seq", m, {
        "model_type": "s4", "block": "S4D", "d_input": 3, "d_output": 2, "d_model": 8, "n_layers": 2,
        "d_state": 8, "prenorm": False, "mode": "s4d", "init": "diag-lin", "disc": "zoh", "pooling": "mean",
    }, x, conv, step)

    # 2. S4Block diag (S4D-Inv, bilinear, softplus dt, n_ssm 2, channels 2), LM, prenorm
    torch.manual_seed(1)
    kw = dict(mode="diag", init="diag-inv", disc="bilinear", dt_transform="softplus", n_ssm=2, channels=2,
              d_state=8, transposed=True, lr=None)
    m = S4Model(lambda: s4.S4Block(8, **kw), None, 16, 8, 2, prenorm=True, vocab=16).eval()
    perturb(m, 2)
    ids = torch.randint(0, 16, (1, 40))
    with torch.no_grad():
        conv, step = m(ids), m.step_all(ids)
    write_fixture(outdir, "s4block_diag_lm", m, {
        "model_type": "s4", "block": "S4Block", "vocab_size": 16, "d_output": 16, "d_model": 8, "n_layers": 2,
        "d_state": 8, "prenorm": True, "mode": "diag", "init": "diag-inv", "disc": "bilinear",
        "transforms": {"dt": "softplus", "real": "exp", "imag": "none"}, "n_ssm": 2, "channels": 2,
    }, ids.float(), conv, step)

    # 3. S4Block NPLR (HiPPO-LegS, rank 1), sequence model; the first forward sets C~ for l_kernel 64
    torch.manual_seed(2)
    kw = dict(mode="nplr", init="legs", rank=1, n_ssm=1, d_state=16, dt_transform="softplus", transposed=True, lr=None)
    m = S4Model(lambda: s4.S4Block(8, **kw), 2, 3, 8, 2, prenorm=False).eval()
    perturb(m, 3)
    with torch.no_grad():
        m(torch.randn(1, 64, 2))  # l_kernel 0 -> 64, C -> C~
        x = torch.randn(1, 40, 2)
        conv = m(x)  # kernel of length l_kernel = 64, truncated to 40
        sd = {k: v.clone() for k, v in m.state_dict().items()}  # C~ before step setup
        step = m.step_all(x)
    assert int(sd["s4_layers.0.layer.kernel.l_kernel"]) == 64
    m.state_dict = lambda: sd
    write_fixture(outdir, "s4block_nplr_legs_seq", m, {
        "model_type": "s4", "block": "S4Block", "d_input": 2, "d_output": 3, "d_model": 8, "n_layers": 2,
        "d_state": 16, "prenorm": False, "mode": "nplr", "init": "legs", "rank": 1, "n_ssm": 1,
        "transforms": {"dt": "softplus", "real": "exp", "imag": "none"}, "pooling": "mean",
    }, x, conv, step)


if __name__ == "__main__":
    main()
