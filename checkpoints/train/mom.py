"""A plain-PyTorch Mixture-of-Memories (MoM) LM with gated delta-rule memories, computing exactly the
function of scanstream's core/models/mom.ts (the OpenSparseLLMs/MoM `mom_gated_deltanet` layout), with
an exporter to the Hugging Face style folder scanstream's normal loader reads (config.json with
model_type "mom_gated_deltanet", model.safetensors with fla-style names, tokenizer.json).

Shape letters: b batch, l (T) tokens, d hidden, E routed memories, M = E (+1 shared) memories, k topk,
H heads, K = d_k = head_dim, V = d_v = head_dim * expand_v, Kd = H*K, Vd = H*V, I MLP width, W = conv_size.

Layer (pre-norm): h = x + attn(attn_norm(x)); out = h + mlp(mlp_norm(h)).  attn(x), x: [b, l, d]:
    router   p = softmax(x gate^T) [b, l, E];  (w, idx) = top-k(p);  w <- w / sum(w)
    q_raw = x q_proj^T (shared by all memories)
    memory m, over the tokens routed to m *in their order* (the shared memory: every token, weight 1):
        k_raw = x k_proj[m]^T, v_raw = x v_proj[m]^T;
        q, k, v = silu(causal depthwise conv (shared q/k/v_conv1d weights) along m's own subsequence)
        q^, k^ = per head x / sqrt(sum x^2 + 1e-6);  beta = sigmoid(x b_proj[m]^T);
        g = -exp(A_log) * softplus(x a_proj[m]^T + dt_bias)
        gated delta rule per head, S [K, V]:  S <- e^g S;  u = beta (v - S^T k^);  S <- S + k^ u^T;
        o_m = S^T q^ / sqrt(K)
    o = sum_j w_j o_{idx_j} (+ o_shared);  per head o <- RMSNorm(o) * o_norm (.) silu(x g_proj^T);
    attn(x) = o o_proj^T
mlp(x) = down_proj(silu(gate) (.) up), gate | up = the two halves of gate_proj [2I, d] (naive lineage).

Training form: memory m's subsequence is obtained by a stable permutation of each sequence that puts
m's tokens first, in order (gather); the conv and the delta rule run causally on the permuted
sequence (the non-routed tail comes after, so it cannot affect the routed part), and the outputs are
scattered back and weighted (0 for tokens not routed to m).  The delta rule runs in the exact
chunked (WY) form.  `MomLM.forward(ids, sequential=True)` instead runs a token-by-token reference with
explicit per-memory states and conv windows (used by the self-test).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from mamba2 import load_safetensors, write_checkpoint


class MomConfig:
    def __init__(self, d_model=64, n_layer=2, vocab_size=256, num_heads=2, head_dim=16, expand_v=1.0,
                 num_memories=4, topk=2, shared_mem=True, conv_size=4, intermediate_size=64,
                 norm_eps=1e-6, chunk_size=16, aux_loss_scale=0.01):
        self.d_model, self.n_layer, self.vocab_size = d_model, n_layer, vocab_size
        self.num_heads, self.head_dim, self.expand_v = num_heads, head_dim, expand_v
        self.d_k = head_dim
        self.d_v = int(round(head_dim * expand_v))
        assert self.d_v == head_dim * expand_v
        self.key_dim, self.value_dim = num_heads * self.d_k, num_heads * self.d_v
        self.num_memories, self.topk, self.shared_mem = num_memories, topk, shared_mem
        assert 1 <= topk <= num_memories
        self.conv_size, self.intermediate_size, self.norm_eps = conv_size, intermediate_size, norm_eps
        self.chunk_size, self.aux_loss_scale = chunk_size, aux_loss_scale

    @property
    def memories(self):
        return self.num_memories + (1 if self.shared_mem else 0)

    def state_elements(self):
        """Recurrent state per sequence, as core/models/mom.ts momStateSizes: ssm + conv windows."""
        ssm = self.memories * self.num_heads * self.d_k * self.d_v
        conv = self.memories * (2 * self.key_dim + self.value_dim) * (self.conv_size - 1)
        return self.n_layer * (ssm + conv)

    def ssm_state_elements(self):
        return self.n_layer * self.memories * self.num_heads * self.d_k * self.d_v

    def to_json(self, **extra):
        cfg = {
            "architectures": ["MomGatedDeltaNetForCausalLM"],
            "model_type": "mom_gated_deltanet",
            "hidden_size": self.d_model,
            "num_hidden_layers": self.n_layer,
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "expand_v": self.expand_v,
            "num_memories": self.num_memories,
            "topk": self.topk,
            "shared_mem": self.shared_mem,
            "capacity": 1.0,
            "single_kv_proj": False,
            "use_gate": True,
            "use_short_conv": True,
            "conv_size": self.conv_size,
            "intermediate_size": self.intermediate_size,
            "hidden_act": "swish",
            "norm_first": False,
            "norm_eps": self.norm_eps,
            "vocab_size": self.vocab_size,
            "tie_word_embeddings": True,
            "use_layer_wise_balance": True,
            "aux_loss_scale": self.aux_loss_scale,
        }
        cfg.update(extra)
        return cfg

    @staticmethod
    def from_json(j):
        return MomConfig(d_model=j["hidden_size"], n_layer=j["num_hidden_layers"], vocab_size=j["vocab_size"],
                         num_heads=j["num_heads"], head_dim=j["head_dim"], expand_v=j["expand_v"],
                         num_memories=j["num_memories"], topk=j["topk"], shared_mem=j["shared_mem"],
                         conv_size=j["conv_size"], intermediate_size=j["intermediate_size"],
                         norm_eps=j["norm_eps"])


def l2norm(x):
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-6)


def rmsnorm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


# ---------------------------------------------------------------- gated delta rule -----

def delta_rule_recurrent(q, k, v, beta, g, scale, S0=None):
    """Reference. q, k: [N, l, K] (L2-normalised), v: [N, l, V], beta, g: [N, l]; S0 [N, K, V].
    Returns o [N, l, V], S [N, K, V]."""
    N, l, K = k.shape
    S = torch.zeros(N, K, v.shape[-1], dtype=v.dtype) if S0 is None else S0.clone()
    os_ = []
    for t in range(l):
        S = S * torch.exp(g[:, t])[:, None, None]
        u = beta[:, t, None] * (v[:, t] - torch.einsum("nkv,nk->nv", S, k[:, t]))
        S = S + k[:, t, :, None] * u[:, None, :]
        os_.append(torch.einsum("nkv,nk->nv", S, q[:, t] * scale))
    return torch.stack(os_, 1), S


def delta_rule_chunked(q, k, v, beta, g, scale, chunk, S0=None):
    """Exact chunked (WY) form, same arguments as delta_rule_recurrent (any l: the tail is padded with
    beta = g = 0, k = q = v = 0, which leaves the state unchanged).
    Within a chunk (gam = cumulative sum of g):  (I + A) U = diag(beta) V - diag(beta e^gam) K S0,
    A[t, j] = beta_t e^(gam_t - gam_j) k_t.k_j (j < t);  o_t = scale (e^gam_t S0^T q_t +
    sum_{j<=t} e^(gam_t - gam_j) (q_t.k_j) u_j);  S_C = e^gam_C S0 + sum_j e^(gam_C - gam_j) k_j u_j^T."""
    N, l, K = k.shape
    Vd = v.shape[-1]
    C = chunk
    pad = (C - l % C) % C
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        beta, g = F.pad(beta, (0, pad)), F.pad(g, (0, pad))
    c = (l + pad) // C
    q, k, v = q.reshape(N, c, C, K), k.reshape(N, c, C, K), v.reshape(N, c, C, Vd)
    beta, g = beta.reshape(N, c, C), g.reshape(N, c, C)
    gam = torch.cumsum(g, -1)                                                  # [N, c, C]
    incl = torch.tril(torch.ones(C, C, dtype=torch.bool, device=k.device))
    diff = (gam[..., :, None] - gam[..., None, :]).masked_fill(~incl, -math.inf)
    D = torch.exp(diff)                                                        # [N, c, C, C], 0 above diag
    strict = torch.tril(torch.ones(C, C, dtype=k.dtype, device=k.device), -1)
    A = beta[..., :, None] * D * strict * (k @ k.transpose(-1, -2))
    IA = A + torch.eye(C, dtype=k.dtype, device=k.device)
    rhs = torch.cat([(beta * torch.exp(gam))[..., None] * k, beta[..., None] * v], -1)
    sol = torch.linalg.solve_triangular(IA, rhs, upper=False, unitriangular=True)
    W, U0 = sol[..., :K], sol[..., K:]                                         # [N, c, C, K], [N, c, C, V]
    QK = (q @ k.transpose(-1, -2)) * D                                         # [N, c, C, C]
    eg = torch.exp(gam)
    kd = (k * torch.exp(gam[..., -1:] - gam)[..., None]).transpose(-1, -2)     # [N, c, K, C]
    S = torch.zeros(N, K, Vd, dtype=v.dtype, device=v.device) if S0 is None else S0
    # only the state passing is sequential (unbind, not slicing: one backward op instead of c)
    Us, Ss = [], []
    for U0c, Wc, kdc, gl in zip(U0.unbind(1), W.unbind(1), kd.unbind(1), eg[..., -1].unbind(1)):
        Ss.append(S)
        U = U0c - Wc @ S                                                       # [N, C, V]
        Us.append(U)
        S = gl[:, None, None] * S + kdc @ U
    U, Sin = torch.stack(Us, 1), torch.stack(Ss, 1)                            # [N, c, C, V], [N, c, K, V]
    o = (eg[..., None] * (q @ Sin) + QK @ U) * scale
    return o.reshape(N, c * C, Vd)[:, :l], S


# ---------------------------------------------------------------- model --------------

class MomAttention(nn.Module):
    def __init__(self, cfg: MomConfig):
        super().__init__()
        self.cfg = cfg
        d, H, Kd, Vd, M, E, W = cfg.d_model, cfg.num_heads, cfg.key_dim, cfg.value_dim, cfg.memories, \
            cfg.num_memories, cfg.conv_size

        def lin(o, i, *lead):
            t = torch.empty(*lead, o, i).uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i))
            return nn.Parameter(t)

        self.gate = lin(E, d)
        self.q_proj = lin(Kd, d)
        self.k_proj = lin(Kd, d, M)          # [M, Kd, d]: routed memories 0..E-1, then the shared one
        self.v_proj = lin(Vd, d, M)
        self.b_proj = lin(H, d, M)
        self.a_proj = lin(H, d, M)
        A = torch.empty(H).uniform_(1, 16)
        self.A_log = nn.Parameter(torch.log(A))
        dt = torch.exp(torch.rand(H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        b = 1 / math.sqrt(W)
        self.q_conv1d = nn.Parameter(torch.empty(Kd, 1, W).uniform_(-b, b))
        self.k_conv1d = nn.Parameter(torch.empty(Kd, 1, W).uniform_(-b, b))
        self.v_conv1d = nn.Parameter(torch.empty(Vd, 1, W).uniform_(-b, b))
        self.g_proj = lin(Vd, d)
        self.o_norm = nn.Parameter(torch.ones(cfg.d_v))
        self.o_proj = lin(d, Vd)
        self.aux_loss = None

    def route(self, x):
        """x [b, l, d] -> weights [b, l, M] (0 where not routed; shared memory 1), mask [b, l, M]."""
        cfg = self.cfg
        p = torch.softmax((x @ self.gate.t()).float(), -1)                     # [b, l, E]
        topv, topi = p.topk(cfg.topk, -1)
        w = topv / topv.sum(-1, keepdim=True)
        wfull = torch.zeros_like(p).scatter(-1, topi, w)
        mask = torch.zeros_like(p).scatter(-1, topi, 1.0)
        if self.training and cfg.aux_loss_scale > 0:
            # Switch-style load balancing (training only): E * sum_e (share of routed slots) * (mean p)
            f = mask.mean((0, 1)) / cfg.topk
            self.aux_loss = cfg.aux_loss_scale * cfg.num_memories * (f * p.mean((0, 1))).sum()
        if cfg.shared_mem:
            one = torch.ones_like(p[..., :1])
            wfull, mask = torch.cat([wfull, one], -1), torch.cat([mask, one], -1)
        return wfull, mask

    def _conv(self, x, weight):
        """x [n, l, C] -> silu(causal depthwise conv) [n, l, C]."""
        l = x.shape[1]
        y = F.conv1d(x.transpose(1, 2), weight, padding=weight.shape[-1] - 1, groups=x.shape[-1])[..., :l]
        return F.silu(y).transpose(1, 2)

    def forward(self, x):
        cfg = self.cfg
        b, l, d = x.shape
        H, K, V, M = cfg.num_heads, cfg.d_k, cfg.d_v, cfg.memories
        wfull, mask = self.route(x)                                            # [b, l, M]
        # per memory, a stable permutation putting its tokens first (in order)
        key = (1 - mask).transpose(1, 2) * l + torch.arange(l, dtype=mask.dtype, device=x.device)
        perm = key.argsort(-1)                                                 # [b, M, l]
        inv = perm.argsort(-1)
        xg = torch.gather(x[:, None].expand(b, M, l, d), 2, perm[..., None].expand(b, M, l, d))
        qraw = xg @ self.q_proj.t()                                            # [b, M, l, Kd]
        kraw = torch.einsum("bmld,mkd->bmlk", xg, self.k_proj)
        vraw = torch.einsum("bmld,mkd->bmlk", xg, self.v_proj)
        beta = torch.sigmoid(torch.einsum("bmld,mhd->bmlh", xg, self.b_proj))
        g = -torch.exp(self.A_log) * F.softplus(torch.einsum("bmld,mhd->bmlh", xg, self.a_proj) + self.dt_bias)
        q = self._conv(qraw.reshape(b * M, l, -1), self.q_conv1d)
        k = self._conv(kraw.reshape(b * M, l, -1), self.k_conv1d)
        v = self._conv(vraw.reshape(b * M, l, -1), self.v_conv1d)
        heads = lambda t, n: t.reshape(b, M, l, H, n).permute(0, 1, 3, 2, 4).reshape(b * M * H, l, n)
        q, k, v = l2norm(heads(q, K)), l2norm(heads(k, K)), heads(v, V)
        beta = beta.permute(0, 1, 3, 2).reshape(b * M * H, l)
        g = g.permute(0, 1, 3, 2).reshape(b * M * H, l)
        y, _ = delta_rule_chunked(q, k, v, beta, g, K ** -0.5, cfg.chunk_size)
        y = y.reshape(b, M, H, l, V).permute(0, 1, 3, 2, 4).reshape(b, M, l, H * V)
        y = torch.gather(y, 2, inv[..., None].expand(b, M, l, H * V))          # back to token order
        o = (y * wfull.transpose(1, 2)[..., None].to(y.dtype)).sum(1)          # [b, l, Vd]
        return self._out(x, o)

    def _out(self, x, o):
        cfg = self.cfg
        b, l = x.shape[:2]
        o = rmsnorm(o.reshape(b, l, cfg.num_heads, cfg.d_v), self.o_norm, cfg.norm_eps)
        o = o.reshape(b, l, cfg.value_dim) * F.silu(x @ self.g_proj.t())
        return o @ self.o_proj.t()

    @torch.no_grad()
    def forward_sequential(self, x):
        """Token-by-token reference with explicit per-memory state and conv windows (b = 1 loop)."""
        cfg = self.cfg
        b, l, d = x.shape
        H, K, V, M, W = cfg.num_heads, cfg.d_k, cfg.d_v, cfg.memories, cfg.conv_size
        wfull, mask = self.route(x)
        out = torch.zeros(b, l, cfg.value_dim, dtype=x.dtype)
        for bi in range(b):
            S = [torch.zeros(H, K, V, dtype=x.dtype) for _ in range(M)]
            win = [[torch.zeros(W - 1, n, dtype=x.dtype) for n in (cfg.key_dim, cfg.key_dim, cfg.value_dim)]
                   for _ in range(M)]
            for t in range(l):
                xt = x[bi, t]
                for m in range(M):
                    if mask[bi, t, m] == 0:
                        continue
                    raws = [self.q_proj @ xt, self.k_proj[m] @ xt, self.v_proj[m] @ xt]
                    acts = []
                    for j, (raw, wt) in enumerate(zip(raws, (self.q_conv1d, self.k_conv1d, self.v_conv1d))):
                        full = torch.cat([win[m][j], raw[None]], 0)            # [W, C] oldest first
                        win[m][j] = full[1:]
                        acts.append(F.silu((full.t() * wt[:, 0, :]).sum(-1)))
                    qh = l2norm(acts[0].reshape(H, K))
                    kh = l2norm(acts[1].reshape(H, K))
                    vh = acts[2].reshape(H, V)
                    be = torch.sigmoid(self.b_proj[m] @ xt)
                    gg = -torch.exp(self.A_log) * F.softplus(self.a_proj[m] @ xt + self.dt_bias)
                    Sm = S[m] * torch.exp(gg)[:, None, None]
                    u = be[:, None] * (vh - torch.einsum("hkv,hk->hv", Sm, kh))
                    Sm = Sm + kh[:, :, None] * u[:, None, :]
                    S[m] = Sm
                    o = torch.einsum("hkv,hk->hv", Sm, qh * K ** -0.5).reshape(-1)
                    out[bi, t] += wfull[bi, t, m].to(x.dtype) * o
        return self._out(x, out)


class MomMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, I = cfg.d_model, cfg.intermediate_size
        self.gate_proj = nn.Linear(d, 2 * I, bias=False)
        self.down_proj = nn.Linear(I, d, bias=False)

    def forward(self, x):
        gate, up = self.gate_proj(x).chunk(2, -1)
        return self.down_proj(F.silu(gate) * up)


class MomBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn_norm = nn.Parameter(torch.ones(cfg.d_model))
        self.attn = MomAttention(cfg)
        self.mlp_norm = nn.Parameter(torch.ones(cfg.d_model))
        self.mlp = MomMLP(cfg)


class MomLM(nn.Module):
    def __init__(self, cfg: MomConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = nn.Parameter(torch.randn(cfg.vocab_size, cfg.d_model) * 0.02)
        self.layers = nn.ModuleList([MomBlock(cfg) for _ in range(cfg.n_layer)])
        self.norm = nn.Parameter(torch.ones(cfg.d_model))
        for blk in self.layers:   # prenorm residual rescale of the output projections
            with torch.no_grad():
                blk.attn.o_proj /= math.sqrt(2 * cfg.n_layer)
                blk.mlp.down_proj.weight /= math.sqrt(2 * cfg.n_layer)

    def forward(self, ids, sequential=False):
        """ids [b, l] int64 -> logits [b, l, vocab]"""
        eps = self.cfg.norm_eps
        h = self.embeddings[ids]
        for blk in self.layers:
            x = rmsnorm(h, blk.attn_norm, eps)
            h = h + (blk.attn.forward_sequential(x) if sequential else blk.attn(x))
            h = h + blk.mlp(rmsnorm(h, blk.mlp_norm, eps))
        return rmsnorm(h, self.norm, eps) @ self.embeddings.t()

    def aux_loss(self):
        losses = [blk.attn.aux_loss for blk in self.layers if blk.attn.aux_loss is not None]
        return sum(losses) if losses else 0.0

    def export_tensors(self):
        cfg = self.cfg
        E = cfg.num_memories
        t = {"model.embeddings.weight": self.embeddings, "model.norm.weight": self.norm}
        for i, blk in enumerate(self.layers):
            p, a = f"model.layers.{i}.", blk.attn
            t[p + "attn_norm.weight"] = blk.attn_norm
            t[p + "mlp_norm.weight"] = blk.mlp_norm
            t[p + "attn.gate.weight"] = a.gate
            t[p + "attn.q_proj.weight"] = a.q_proj
            for name, w in (("k", a.k_proj), ("v", a.v_proj), ("b", a.b_proj), ("a", a.a_proj)):
                for m in range(E):
                    t[p + f"attn.{name}_proj.{m}.weight"] = w[m]
                if cfg.shared_mem:
                    t[p + f"attn.shared_{name}.weight"] = w[E]
            for name in ("A_log", "dt_bias"):
                t[p + "attn." + name] = getattr(a, name)
            for name in ("q_conv1d", "k_conv1d", "v_conv1d", "g_proj", "o_norm", "o_proj"):
                t[p + f"attn.{name}.weight"] = getattr(a, name)
            t[p + "mlp.gate_proj.weight"] = blk.mlp.gate_proj.weight
            t[p + "mlp.down_proj.weight"] = blk.mlp.down_proj.weight
        return {k: v.detach().float().cpu().contiguous() for k, v in t.items()}

    def load_tensors(self, t):
        cfg = self.cfg
        E = cfg.num_memories
        with torch.no_grad():
            self.embeddings.copy_(t["model.embeddings.weight"])
            self.norm.copy_(t["model.norm.weight"])
            for i, blk in enumerate(self.layers):
                p, a = f"model.layers.{i}.", blk.attn
                blk.attn_norm.copy_(t[p + "attn_norm.weight"])
                blk.mlp_norm.copy_(t[p + "mlp_norm.weight"])
                a.gate.copy_(t[p + "attn.gate.weight"])
                a.q_proj.copy_(t[p + "attn.q_proj.weight"])
                for name, w in (("k", a.k_proj), ("v", a.v_proj), ("b", a.b_proj), ("a", a.a_proj)):
                    for m in range(E):
                        w[m].copy_(t[p + f"attn.{name}_proj.{m}.weight"])
                    if cfg.shared_mem:
                        w[E].copy_(t[p + f"attn.shared_{name}.weight"])
                a.A_log.copy_(t[p + "attn.A_log"])
                a.dt_bias.copy_(t[p + "attn.dt_bias"])
                for name in ("q_conv1d", "k_conv1d", "v_conv1d", "g_proj", "o_norm", "o_proj"):
                    getattr(a, name).copy_(t[p + f"attn.{name}.weight"])
                blk.mlp.gate_proj.weight.copy_(t[p + "mlp.gate_proj.weight"])
                blk.mlp.down_proj.weight.copy_(t[p + "mlp.down_proj.weight"])


def export(model: MomLM, outdir, extra_config=None):
    write_checkpoint(outdir, model.export_tensors(), "scanstream checkpoints/train/mom.py",
                     model.cfg.to_json(**(extra_config or {})))


def load_exported(outdir):
    cfg = MomConfig.from_json(json.load(open(os.path.join(outdir, "config.json"))))
    m = MomLM(cfg)
    m.load_tensors(load_safetensors(os.path.join(outdir, "model.safetensors")))
    return m.eval()


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- self-test ------

def self_test():
    """Chunked delta rule == recurrence; the gathered MoM layer == the token-by-token reference."""
    torch.manual_seed(0)
    N, l, K, V = 3, 37, 5, 4
    q, k = l2norm(torch.randn(N, l, K, dtype=torch.float64)), l2norm(torch.randn(N, l, K, dtype=torch.float64))
    v = torch.randn(N, l, V, dtype=torch.float64)
    beta = torch.rand(N, l, dtype=torch.float64)
    g = -torch.rand(N, l, dtype=torch.float64) * 2
    S0 = torch.randn(N, K, V, dtype=torch.float64)
    o1, s1 = delta_rule_recurrent(q, k, v, beta, g, 0.5, S0)
    err = 0.0
    for C in (1, 4, 16, 64):
        o2, s2 = delta_rule_chunked(q, k, v, beta, g, 0.5, C, S0)
        err = max(err, (o1 - o2).abs().max().item(), (s1 - s2).abs().max().item())
    print(f"self-test: chunked vs recurrent delta rule max abs err {err:.2e}")
    assert err < 1e-10, err
    for shared, topk in ((True, 2), (False, 1), (True, 3)):
        cfg = MomConfig(d_model=24, n_layer=2, vocab_size=40, num_heads=2, head_dim=4, expand_v=1.5,
                        num_memories=3, topk=topk, shared_mem=shared, conv_size=3, intermediate_size=16,
                        chunk_size=8)
        m = MomLM(cfg).double().eval()
        with torch.no_grad():
            m.embeddings.normal_()      # varied routing
        ids = torch.randint(0, 40, (2, 29))
        with torch.no_grad():
            e = (m(ids) - m(ids, sequential=True)).abs().max().item()
        print(f"self-test: MoM (shared {shared}, top-{topk}) gathered vs token-by-token max abs err {e:.2e}")
        assert e < 1e-9, e


if __name__ == "__main__":
    self_test()
