#!/usr/bin/env python3
"""Independent float64 reference implementation of the Hiformer model (docs/model.md),
used to generate extra golden files of shapes that the existing goldens do not cover.

Written only from the model specification, docs/model.md (no Java code consulted). Depends on numpy only; safetensors files are
read and written by hand (8-byte little-endian header length, JSON header padded with spaces to a
multiple of 8, raw little-endian data).

Everything is computed in float64 from the float32 weights and float32/int64 inputs; results are
rounded to float32 when written. Gradients come from an analytic backward pass written in numpy,
which is cross-checked against central finite differences of the float64 loss (--fd-check).

Usage:
    python3 make_golden.py validate [--golden-dir DIR]     # compare with existing golden pairs
    python3 make_golden.py generate [--out DIR] [--fd-check]
    python3 make_golden.py all      [--golden-dir DIR] [--out DIR] [--fd-check]   # default

Defaults: both ../resources/golden beside this script (the test resources): validation reads the
original golden-small and golden-unpruned pairs there, generation writes the extra pairs next to them.
`generate` writes <name>.weights.safetensors, <name>.expected.safetensors and <name>.json for
golden-deep, golden-nodense and golden-wide (deterministic: fixed seeds).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

EPS = 1e-5

# ----------------------------------------------------------------------------------------------
# safetensors I/O
# ----------------------------------------------------------------------------------------------

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
           "I32": np.dtype("<i4")}
_DTYPE_NAMES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64",
                np.dtype("<i4"): "I32"}


def read_safetensors(path):
    """Returns (tensors: dict name -> ndarray, metadata: dict)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("file too short")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("header length beyond file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    tensors = {}
    spans = []
    for name, info in header.items():
        dt = _DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        a, b = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        if not (0 <= a <= b <= len(body)) or b - a != count * dt.itemsize:
            raise ValueError(f"bad offsets for {name}")
        spans.append((a, b, name))
        tensors[name] = np.frombuffer(body[a:b], dtype=dt).reshape(shape).copy()
    spans.sort()
    for (a0, b0, n0), (a1, b1, n1) in zip(spans, spans[1:]):
        if a1 < b0:
            raise ValueError(f"overlapping tensors {n0} {n1}")
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> ndarray (F32/I64). Keys written sorted, data packed in that order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    chunks = []
    off = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        dt = arr.dtype.newbyteorder("<")
        if dt not in _DTYPE_NAMES:
            raise ValueError(f"unsupported dtype {arr.dtype} for {name}")
        raw = np.ascontiguousarray(arr, dtype=dt).tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[dt], "shape": [int(s) for s in arr.shape],
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-len(hjson)) % 8
    hjson += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


# ----------------------------------------------------------------------------------------------
# Model description helpers
# ----------------------------------------------------------------------------------------------

class Dims:
    def __init__(self, cfg):
        self.cfg = cfg
        self.d = cfg["token_dim"]
        self.H = cfg["heads"]
        assert self.d % self.H == 0
        self.dh = self.d // self.H
        self.N = cfg["layers"]
        self.tasks = list(cfg["tasks"])
        self.T = len(self.tasks)
        self.rk = cfg["rank_k"]
        self.rv = cfg["rank_v"]
        self.m = cfg["ffn_mult"]
        self.tower_hidden = list(cfg["tower_hidden"])
        self.prune = cfg.get("prune_last_layer", True)
        fields = cfg["fields"]
        self.emb_fields = [f for f in fields if f["kind"] in ("categorical", "bag")]
        self.cat_fields = [f for f in fields if f["kind"] == "categorical"]
        self.bag_fields = [f for f in fields if f["kind"] == "bag"]
        self.dense_fields = [f for f in fields if f["kind"] == "dense"]
        self.D = len(self.dense_fields)
        self.ndt = cfg["dense_tokens"] if self.D > 0 else 0
        self.L = len(self.emb_fields) + self.ndt + self.T

    def rows(self, l):
        return self.T if (self.prune and l == self.N - 1) else self.L

    def param_shapes(self):
        d, L, T, m = self.d, self.L, self.T, self.m
        s = {}
        for f in self.emb_fields:
            s["emb." + f["name"]] = (f["vocab"], d)
        if self.D > 0:
            s["dense.weight"] = (self.D, self.ndt * d)
            s["dense.bias"] = (self.ndt * d,)
        s["task_tokens"] = (T, d)
        for l in range(self.N):
            R = self.rows(l)
            p = f"layers.{l}."
            for n in ("ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"):
                s[p + n] = (d,)
            s[p + "attn.wq"] = (R, d, d)
            s[p + "attn.wo"] = (R, d, d)
            s[p + "attn.uk"] = (L * d, self.rk)
            s[p + "attn.vk"] = (self.rk, L * d)
            s[p + "attn.uv"] = (L * d, self.rv)
            s[p + "attn.vv"] = (self.rv, L * d)
            s[p + "ffn.w1"] = (R, d, m * d)
            s[p + "ffn.b1"] = (R, m * d)
            s[p + "ffn.w2"] = (R, m * d, d)
            s[p + "ffn.b2"] = (R, d)
        s["final_ln.weight"] = (d,)
        s["final_ln.bias"] = (d,)
        for j in range(T):
            dims = [d] + self.tower_hidden + [1]
            for k in range(len(dims) - 1):
                s[f"towers.{j}.{k}.weight"] = (dims[k], dims[k + 1])
                s[f"towers.{j}.{k}.bias"] = (dims[k + 1],)
        return s


# ----------------------------------------------------------------------------------------------
# Elementary ops (float64) with backward
# ----------------------------------------------------------------------------------------------

def ln_fwd(x, g, b):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + EPS)
    xhat = xc * rstd
    return xhat * g + b, (xhat, rstd, g)


def ln_bwd(dy, cache):
    xhat, rstd, g = cache
    red = tuple(range(dy.ndim - 1))
    dg = (dy * xhat).sum(axis=red)
    db = dy.sum(axis=red)
    dxh = dy * g
    dx = rstd * (dxh - dxh.mean(-1, keepdims=True) - xhat * (dxh * xhat).mean(-1, keepdims=True))
    return dx, dg, db


_C = float(np.sqrt(2.0 / np.pi))


def gelu_fwd(x):
    u = _C * (x + 0.044715 * x ** 3)
    t = np.tanh(u)
    return 0.5 * x * (1.0 + t), (x, t)


def gelu_bwd(dy, cache):
    x, t = cache
    du = _C * (1.0 + 3 * 0.044715 * x * x)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


# ----------------------------------------------------------------------------------------------
# Model: forward and backward
# ----------------------------------------------------------------------------------------------

def build_tokens(dm, P, inp):
    """Returns X0 [B, L, d] and a cache for the backward."""
    d, T = dm.d, dm.T
    cat = inp["cat"]
    bag_ids, bag_off = inp["bag_ids"], inp["bag_offsets"]
    dense = inp["dense"]
    B = inp["B"]
    nb = len(dm.bag_fields)
    toks = []
    ci = bi = 0
    for f in dm.emb_fields:
        E = P["emb." + f["name"]]
        if f["kind"] == "categorical":
            ids = cat[:, ci]
            ci += 1
            toks.append(E[ids])
        else:
            t = np.zeros((B, d))
            for b in range(B):
                a, e = bag_off[b * nb + bi], bag_off[b * nb + bi + 1]
                ids = bag_ids[a:e]
                if len(ids):
                    t[b] = E[ids].mean(0)
            bi += 1
            toks.append(t)
    X = [np.stack(toks, 1)] if toks else [np.zeros((B, 0, d))]
    if dm.D > 0:
        z = dense @ P["dense.weight"] + P["dense.bias"]
        X.append(z.reshape(B, dm.ndt, d))
    X.append(np.broadcast_to(P["task_tokens"], (B, T, d)))
    return np.concatenate(X, 1)


def tokens_bwd(dm, P, inp, dX0, G):
    d, B = dm.d, inp["B"]
    cat, bag_ids, bag_off, dense = inp["cat"], inp["bag_ids"], inp["bag_offsets"], inp["dense"]
    nb = len(dm.bag_fields)
    ci = bi = 0
    for pos, f in enumerate(dm.emb_fields):
        gE = G["emb." + f["name"]]
        if f["kind"] == "categorical":
            ids = cat[:, ci]
            ci += 1
            np.add.at(gE, ids, dX0[:, pos])
        else:
            for b in range(B):
                a, e = bag_off[b * nb + bi], bag_off[b * nb + bi + 1]
                ids = bag_ids[a:e]
                if len(ids):
                    np.add.at(gE, ids, np.broadcast_to(dX0[b, pos] / len(ids), (len(ids), d)))
            bi += 1
    ne = len(dm.emb_fields)
    if dm.D > 0:
        dz = dX0[:, ne:ne + dm.ndt].reshape(B, dm.ndt * d)
        G["dense.weight"] += dense.T @ dz
        G["dense.bias"] += dz.sum(0)
    G["task_tokens"] += dX0[:, dm.L - dm.T:].sum(0)


def layer_fwd(dm, P, l, X):
    """X [B, L, d] -> out [B, R, d]"""
    B, L, d = X.shape
    H, dh = dm.H, dm.dh
    R = dm.rows(l)
    p = f"layers.{l}."
    Z, c_ln1 = ln_fwd(X, P[p + "ln1.weight"], P[p + "ln1.bias"])
    Zr = Z[:, L - R:]
    Q = np.einsum("bri,rij->brj", Zr, P[p + "attn.wq"])
    z = Z.reshape(B, L * d)
    zk = z @ P[p + "attn.uk"]
    K = (zk @ P[p + "attn.vk"]).reshape(B, L, d)
    zv = z @ P[p + "attn.uv"]
    V = (zv @ P[p + "attn.vv"]).reshape(B, L, d)
    Qh = Q.reshape(B, R, H, dh).transpose(0, 2, 1, 3)
    Kh = K.reshape(B, L, H, dh).transpose(0, 2, 1, 3)
    Vh = V.reshape(B, L, H, dh).transpose(0, 2, 1, 3)
    scale = 1.0 / float(np.sqrt(dh))
    S = np.einsum("bhrk,bhlk->bhrl", Qh, Kh) * scale
    S = S - S.max(-1, keepdims=True)
    A = np.exp(S)
    A /= A.sum(-1, keepdims=True)
    Oh = np.einsum("bhrl,bhlk->bhrk", A, Vh)
    O = Oh.transpose(0, 2, 1, 3).reshape(B, R, d)
    X1 = X[:, L - R:] + np.einsum("bri,rij->brj", O, P[p + "attn.wo"])
    Z2, c_ln2 = ln_fwd(X1, P[p + "ln2.weight"], P[p + "ln2.bias"])
    Hpre = np.einsum("bri,rij->brj", Z2, P[p + "ffn.w1"]) + P[p + "ffn.b1"]
    Hact, c_g = gelu_fwd(Hpre)
    Y = np.einsum("bri,rij->brj", Hact, P[p + "ffn.w2"]) + P[p + "ffn.b2"]
    out = X1 + Y
    cache = dict(Z=Z, c_ln1=c_ln1, Zr=Zr, z=z, zk=zk, zv=zv, Qh=Qh, Kh=Kh, Vh=Vh, A=A, O=O,
                 Z2=Z2, c_ln2=c_ln2, Hact=Hact, c_g=c_g, R=R, scale=scale)
    return out, cache


def layer_bwd(dm, P, G, l, dout, c, Xshape):
    B, L, d = Xshape
    H, dh, R = dm.H, dm.dh, c["R"]
    p = f"layers.{l}."
    dX1 = dout.copy()
    dY = dout
    G[p + "ffn.b2"] += dY.sum(0)
    G[p + "ffn.w2"] += np.einsum("bri,brj->rij", c["Hact"], dY)
    dHact = np.einsum("brj,rij->bri", dY, P[p + "ffn.w2"])
    dHpre = gelu_bwd(dHact, c["c_g"])
    G[p + "ffn.b1"] += dHpre.sum(0)
    G[p + "ffn.w1"] += np.einsum("bri,brj->rij", c["Z2"], dHpre)
    dZ2 = np.einsum("brj,rij->bri", dHpre, P[p + "ffn.w1"])
    dx, dg, db = ln_bwd(dZ2, c["c_ln2"])
    G[p + "ln2.weight"] += dg
    G[p + "ln2.bias"] += db
    dX1 += dx
    # X1 = X[rows] + O @ wo
    dX = np.zeros((B, L, d))
    dX[:, L - R:] += dX1
    G[p + "attn.wo"] += np.einsum("bri,brj->rij", c["O"], dX1)
    dO = np.einsum("brj,rij->bri", dX1, P[p + "attn.wo"])
    dOh = dO.reshape(B, R, H, dh).transpose(0, 2, 1, 3)
    A, Vh, Qh, Kh = c["A"], c["Vh"], c["Qh"], c["Kh"]
    dA = np.einsum("bhrk,bhlk->bhrl", dOh, Vh)
    dVh = np.einsum("bhrl,bhrk->bhlk", A, dOh)
    dS = A * (dA - (dA * A).sum(-1, keepdims=True)) * c["scale"]
    dQh = np.einsum("bhrl,bhlk->bhrk", dS, Kh)
    dKh = np.einsum("bhrl,bhrk->bhlk", dS, Qh)
    dQ = dQh.transpose(0, 2, 1, 3).reshape(B, R, d)
    dK = dKh.transpose(0, 2, 1, 3).reshape(B, L * d)
    dV = dVh.transpose(0, 2, 1, 3).reshape(B, L * d)
    z = c["z"]
    G[p + "attn.vk"] += c["zk"].T @ dK
    dzk = dK @ P[p + "attn.vk"].T
    G[p + "attn.uk"] += z.T @ dzk
    G[p + "attn.vv"] += c["zv"].T @ dV
    dzv = dV @ P[p + "attn.vv"].T
    G[p + "attn.uv"] += z.T @ dzv
    dZ = (dzk @ P[p + "attn.uk"].T + dzv @ P[p + "attn.uv"].T).reshape(B, L, d)
    G[p + "attn.wq"] += np.einsum("bri,brj->rij", c["Zr"], dQ)
    dZ[:, L - R:] += np.einsum("brj,rij->bri", dQ, P[p + "attn.wq"])
    dx, dg, db = ln_bwd(dZ, c["c_ln1"])
    G[p + "ln1.weight"] += dg
    G[p + "ln1.bias"] += db
    dX += dx
    return dX


def bce_with_logits(x, y):
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def forward(dm, P, inp, want_grad=True):
    """P: dict of float64 params. Returns dict with tokens, layers, logits, loss, grads."""
    B, T, d, L = inp["B"], dm.T, dm.d, dm.L
    X0 = build_tokens(dm, P, inp)
    X = X0
    hidden = []
    caches = []
    shapes = []
    for l in range(dm.N):
        shapes.append(X.shape)
        X, c = layer_fwd(dm, P, l, X)
        hidden.append(X)
        caches.append(c)
    Xt = X[:, X.shape[1] - T:]
    Hf, c_fln = ln_fwd(Xt, P["final_ln.weight"], P["final_ln.bias"])
    nk = len(dm.tower_hidden) + 1
    logits = np.zeros((B, T))
    tcache = []
    for j in range(T):
        a = Hf[:, j]
        acts = [a]
        pre = []
        for k in range(nk):
            zz = a @ P[f"towers.{j}.{k}.weight"] + P[f"towers.{j}.{k}.bias"]
            pre.append(zz)
            a = np.maximum(zz, 0) if k < nk - 1 else zz
            acts.append(a)
        logits[:, j] = a[:, 0]
        tcache.append((acts, pre))
    y, mask = inp["labels"], inp["label_mask"]
    loss = float((mask * bce_with_logits(logits, y)).sum() / B)
    res = dict(tokens=X0, hidden=hidden, logits=logits, loss=loss, tower_pre=tcache)
    if not want_grad:
        return res
    G = {k: np.zeros_like(v) for k, v in P.items()}
    dlog = mask * (sigmoid(logits) - y) / B
    dHf = np.zeros_like(Hf)
    for j in range(T):
        acts, pre = tcache[j]
        da = dlog[:, j:j + 1]
        for k in reversed(range(nk)):
            dz = da if k == nk - 1 else da * (pre[k] > 0)
            G[f"towers.{j}.{k}.weight"] += acts[k].T @ dz
            G[f"towers.{j}.{k}.bias"] += dz.sum(0)
            da = dz @ P[f"towers.{j}.{k}.weight"].T
        dHf[:, j] = da
    dXt, dg, db = ln_bwd(dHf, c_fln)
    G["final_ln.weight"] += dg
    G["final_ln.bias"] += db
    dX = np.zeros_like(X)
    dX[:, X.shape[1] - T:] = dXt
    for l in reversed(range(dm.N)):
        dX = layer_bwd(dm, P, G, l, dX, caches[l], shapes[l])
    tokens_bwd(dm, P, inp, dX, G)
    res["grads"] = G
    return res


def loss_only(dm, P, inp):
    return forward(dm, P, inp, want_grad=False)["loss"]


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------

def inputs_from_expected(dm, E):
    B = E["input.labels"].shape[0]
    nc, nb = len(dm.cat_fields), len(dm.bag_fields)
    cat = E.get("input.cat", np.zeros((B, nc), np.int64)).astype(np.int64).reshape(B, nc)
    bag_ids = E.get("input.bag_ids", np.zeros((0,), np.int64)).astype(np.int64)
    bag_off = E.get("input.bag_offsets", np.zeros((B * nb + 1,), np.int64)).astype(np.int64)
    dense = E.get("input.dense", np.zeros((B, dm.D), np.float32)).astype(np.float64).reshape(B, dm.D)
    return dict(B=B, cat=cat, bag_ids=bag_ids, bag_offsets=bag_off, dense=dense,
                labels=E["input.labels"].astype(np.float64),
                label_mask=E["input.label_mask"].astype(np.float64))


def check_inputs(dm, inp):
    B = inp["B"]
    nb = len(dm.bag_fields)
    for i, f in enumerate(dm.cat_fields):
        assert np.all((inp["cat"][:, i] >= 0) & (inp["cat"][:, i] < f["vocab"]))
    off = inp["bag_offsets"]
    assert off.shape == (B * nb + 1,) and off[0] == 0 and off[-1] == len(inp["bag_ids"])
    assert np.all(np.diff(off) >= 0)
    for b in range(B):
        for k, f in enumerate(dm.bag_fields):
            ids = inp["bag_ids"][off[b * nb + k]:off[b * nb + k + 1]]
            assert np.all((ids >= 0) & (ids < f["vocab"]))


# ----------------------------------------------------------------------------------------------
# Validation against existing goldens
# ----------------------------------------------------------------------------------------------

def compare(name, mine, ref):
    mine = np.asarray(mine, np.float64)
    ref = np.asarray(ref, np.float64)
    assert mine.shape == ref.shape, (name, mine.shape, ref.shape)
    if ref.size == 0:
        return 0.0, 0.0
    err = np.abs(mine - ref)
    scale = max(np.abs(ref).max(), 1e-30)
    return float(err.max()), float(err.max() / scale)


def validate_one(path_w, path_e, verbose=True):
    W, meta = read_safetensors(path_w)
    E, _ = read_safetensors(path_e)
    cfg = json.loads(meta["config"])
    dm = Dims(cfg)
    shapes = dm.param_shapes()
    assert set(shapes) == set(W), (set(shapes) ^ set(W))
    for k, s in shapes.items():
        assert W[k].shape == s and W[k].dtype == np.float32, (k, W[k].shape, s)
    P = {k: v.astype(np.float64) for k, v in W.items()}
    inp = inputs_from_expected(dm, E)
    check_inputs(dm, inp)
    r = forward(dm, P, inp)
    out = {}
    worst_fwd = 0.0
    out["hidden.tokens"] = compare("hidden.tokens", r["tokens"], E["hidden.tokens"])
    for l in range(dm.N):
        out[f"hidden.layer{l}"] = compare("", r["hidden"][l], E[f"hidden.layer{l}"])
    out["output.logits"] = compare("", r["logits"], E["output.logits"])
    out["output.loss"] = compare("", [r["loss"]], E["output.loss"])
    for k in out:
        worst_fwd = max(worst_fwd, out[k][0])
    worst_grad_abs = worst_grad_rel = 0.0
    zero_ok = True
    for k in shapes:
        g = r["grads"][k]
        a, rel = compare(k, g, E["grad." + k])
        worst_grad_abs = max(worst_grad_abs, a)
        worst_grad_rel = max(worst_grad_rel, rel)
        # exact zeros must coincide
        if not np.array_equal(g == 0, E["grad." + k] == 0):
            zero_ok = False
            if verbose:
                print(f"   zero-pattern mismatch in grad.{k}")
        out["grad." + k] = (a, rel)
    expected_keys = set(E)
    produced_keys = set(expected_keys_for(dm, include_empty_bag=("input.bag_ids" in E)))
    if verbose:
        print(f"{os.path.basename(path_w)}: L={dm.L} N={dm.N}")
        for k, (a, rel) in out.items():
            print(f"   {k:32s} max abs err {a:.3e}   max err / max|ref| {rel:.3e}")
        print(f"   => forward max abs err {worst_fwd:.3e}; gradient max abs err {worst_grad_abs:.3e}, "
              f"max (err / max|ref| per tensor) {worst_grad_rel:.3e}; zero rows match: {zero_ok}; "
              f"key set matches: {expected_keys == produced_keys}")
    return worst_fwd, worst_grad_abs, worst_grad_rel, zero_ok, expected_keys == produced_keys


def expected_keys_for(dm, include_empty_bag=True):
    keys = ["input.cat", "input.dense", "input.labels", "input.label_mask", "hidden.tokens",
            "output.logits", "output.loss"]
    if dm.bag_fields or include_empty_bag:
        keys += ["input.bag_ids", "input.bag_offsets"]
    keys += [f"hidden.layer{l}" for l in range(dm.N)]
    keys += ["grad." + k for k in dm.param_shapes()]
    return keys


# ----------------------------------------------------------------------------------------------
# Finite-difference check of the analytic gradient
# ----------------------------------------------------------------------------------------------

def fd_check(dm, P, inp, G, h=1e-6, verbose=True):
    worst = 0.0
    worst_name = None
    for k, v in P.items():
        g_fd = np.zeros_like(v)
        flat = v.reshape(-1)
        gf = g_fd.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            lp = loss_only(dm, P, inp)
            flat[i] = old - h
            lm = loss_only(dm, P, inp)
            flat[i] = old
            gf[i] = (lp - lm) / (2 * h)
        scale = max(np.abs(G[k]).max(), 1e-8)
        rel = np.abs(g_fd - G[k]).max() / scale
        if rel > worst:
            worst, worst_name = rel, k
        # unused rows: analytic zero must be FD ~0
        assert np.all(np.abs(g_fd[G[k] == 0]) < 1e-8), k
    if verbose:
        print(f"   finite-difference check: max |fd - analytic| / max|analytic| = {worst:.3e} ({worst_name})")
    return worst


# ----------------------------------------------------------------------------------------------
# Generation of new golden pairs
# ----------------------------------------------------------------------------------------------

def F(name, kind, side, vocab=None):
    f = {"name": name, "kind": kind, "side": side}
    if vocab is not None:
        f["vocab"] = vocab
    return f


# (config, seed, std of the random weight matrices); wide uses a smaller std so that its hidden
# states stay of the same magnitude as in the other goldens (d = 12, ffn_mult = 3).
CONFIGS = [
    ({"name": "golden-deep", "token_dim": 8, "heads": 4, "layers": 3,
      "tasks": ["click", "install", "purchase"], "rank_k": 5, "rank_v": 7, "ffn_mult": 2,
      "tower_hidden": [6, 3], "dense_tokens": 2, "prune_last_layer": True,
      "fields": [F("user_id", "categorical", "user", 9),
                 F("recent_items", "bag", "user", 7),
                 F("price", "dense", "item"),
                 F("item_tags", "bag", "item", 5),
                 F("item_id", "categorical", "item", 6),
                 F("hour_of_day", "dense", "context"),
                 F("query_terms", "bag", "context", 11)]}, 1001, 0.2),
    ({"name": "golden-nodense", "token_dim": 6, "heads": 2, "layers": 2,
      "tasks": ["click", "install"], "rank_k": 3, "rank_v": 5, "ffn_mult": 2,
      "tower_hidden": [4], "dense_tokens": 0, "prune_last_layer": False,
      "fields": [F("country", "categorical", "context", 4),
                 F("user_id", "categorical", "user", 8),
                 F("liked_apps", "bag", "user", 6),
                 F("app_id", "categorical", "item", 5)]}, 2002, 0.3),
    ({"name": "golden-wide", "token_dim": 12, "heads": 3, "layers": 2,
      "tasks": ["click"], "rank_k": 9, "rank_v": 4, "ffn_mult": 3,
      "tower_hidden": [], "dense_tokens": 3, "prune_last_layer": True,
      "fields": [F("user_id", "categorical", "user", 6),
                 F("device", "categorical", "context", 3),
                 F("item_id", "categorical", "item", 10),
                 F("rating", "dense", "item"),
                 F("publisher", "categorical", "item", 4)]}, 3003, 0.22),
]


def random_weights(dm, rng, scale=0.3):
    W = {}
    for k, s in dm.param_shapes().items():
        if k.endswith(("ln1.weight", "ln2.weight")) or k == "final_ln.weight":
            a = 1.0 + 0.2 * rng.standard_normal(s)
        elif k.endswith(("ln1.bias", "ln2.bias")) or k == "final_ln.bias":
            a = 0.1 * rng.standard_normal(s)
        elif k.endswith(".bias") or k.endswith((".b1", ".b2")):
            a = 0.1 * rng.standard_normal(s)
        else:
            a = scale * rng.standard_normal(s)
        W[k] = a.astype(np.float32)
    return W


def random_inputs(dm, rng, B=5):
    nb = len(dm.bag_fields)
    cat = np.zeros((B, len(dm.cat_fields)), np.int64)
    for i, f in enumerate(dm.cat_fields):
        cat[:, i] = rng.integers(0, f["vocab"], B)
        cat[rng.integers(0, B), i] = 0  # a missing id somewhere
    ids, off = [], [0]
    for b in range(B):
        for k, f in enumerate(dm.bag_fields):
            n = int(rng.integers(0, 5))
            if (b + k) % 3 == 1:
                n = 0  # guaranteed empty bags
            if b == 2 and k == 0:
                n = 4  # ensure some bag with a repeated id
                sel = list(rng.integers(0, f["vocab"], 3))
                sel.append(sel[0])
                ids += sel
            else:
                ids += list(rng.integers(0, f["vocab"], n))
            off.append(len(ids))
    bag_ids = np.array(ids, np.int64).reshape(-1)
    bag_off = np.array(off, np.int64)
    dense = rng.standard_normal((B, dm.D)).astype(np.float32)
    labels = (rng.random((B, dm.T)) < 0.5).astype(np.float32)
    mask = np.ones((B, dm.T), np.float32)
    # mask some labels (but keep at least one present per task)
    for j in range(dm.T):
        mask[(j * 2 + 1) % B, j] = 0.0
    if dm.T > 1:
        mask[4, :] = 0.0
    return dict(cat=cat, bag_ids=bag_ids, bag_offsets=bag_off, dense=dense, labels=labels,
                label_mask=mask)


def config_json_text(cfg):
    head = {k: v for k, v in cfg.items() if k != "fields"}
    s = json.dumps(head)[:-1] + ',\n "fields": [\n'
    s += ",\n".join("  " + json.dumps(f) for f in cfg["fields"])
    s += "\n ]}\n"
    assert json.loads(s) == cfg
    return s


def generate(out_dir, do_fd=False):
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for cfg, seed, scale in CONFIGS:
        rng = np.random.default_rng(seed)
        dm = Dims(cfg)
        W = random_weights(dm, rng, scale)
        raw = random_inputs(dm, rng)
        B = raw["labels"].shape[0]
        inp = dict(B=B, cat=raw["cat"], bag_ids=raw["bag_ids"], bag_offsets=raw["bag_offsets"],
                   dense=raw["dense"].astype(np.float64), labels=raw["labels"].astype(np.float64),
                   label_mask=raw["label_mask"].astype(np.float64))
        check_inputs(dm, inp)
        P = {k: v.astype(np.float64) for k, v in W.items()}
        r = forward(dm, P, inp)
        # sanity: nothing degenerate
        pre_min = min([np.abs(p).min() for acts, pres in r["tower_pre"] for p in pres[:-1]] + [np.inf])
        print(f"{cfg['name']}: L={dm.L} logits range [{r['logits'].min():.3f}, {r['logits'].max():.3f}], "
              f"loss {r['loss']:.6f}, min |tower pre-ReLU| {pre_min:.3e}")
        if do_fd:
            fd_check(dm, {k: v.copy() for k, v in P.items()}, inp, r["grads"])
        E = {
            "input.cat": raw["cat"].astype(np.int64),
            "input.bag_ids": raw["bag_ids"].astype(np.int64),
            "input.bag_offsets": raw["bag_offsets"].astype(np.int64),
            "input.dense": raw["dense"].astype(np.float32).reshape(B, dm.D),
            "input.labels": raw["labels"],
            "input.label_mask": raw["label_mask"],
            "hidden.tokens": r["tokens"].astype(np.float32),
            "output.logits": r["logits"].astype(np.float32),
            "output.loss": np.array([r["loss"]], np.float32),
        }
        for l in range(dm.N):
            E[f"hidden.layer{l}"] = r["hidden"][l].astype(np.float32)
        for k in dm.param_shapes():
            E["grad." + k] = r["grads"][k].astype(np.float32)
        assert set(E) == set(expected_keys_for(dm))
        name = cfg["name"]
        pw = os.path.join(out_dir, name + ".weights.safetensors")
        pe = os.path.join(out_dir, name + ".expected.safetensors")
        pj = os.path.join(out_dir, name + ".json")
        write_safetensors(pw, W, {"config": json.dumps(cfg)})
        write_safetensors(pe, E)
        with open(pj, "w") as f:
            f.write(config_json_text(cfg))
        # round trip: re-read the files and recompute
        wf, gabs, grel, zok, kok = validate_one(pw, pe, verbose=False)
        assert wf < 1e-5 and grel < 1e-5 and zok and kok, (wf, gabs, grel, zok, kok)
        written += [pw, pe, pj]
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="all", choices=["validate", "generate", "all"])
    resources = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "golden")
    ap.add_argument("--golden-dir", default=resources)
    ap.add_argument("--out", default=resources)
    ap.add_argument("--fd-check", action="store_true",
                    help="also check analytic gradients by central finite differences")
    a = ap.parse_args()
    ok = True
    if a.mode in ("validate", "all"):
        for name in ("golden-small", "golden-unpruned"):
            pw = os.path.join(a.golden_dir, name + ".weights.safetensors")
            pe = os.path.join(a.golden_dir, name + ".expected.safetensors")
            wf, ga, gr, zok, kok = validate_one(pw, pe)
            if a.fd_check:
                W, meta = read_safetensors(pw)
                E, _ = read_safetensors(pe)
                dm = Dims(json.loads(meta["config"]))
                P = {k: v.astype(np.float64) for k, v in W.items()}
                inp = inputs_from_expected(dm, E)
                fd_check(dm, P, inp, forward(dm, P, inp)["grads"])
            ok &= wf < 1e-6 and gr < 1e-5 and zok
    if a.mode in ("generate", "all"):
        for p in generate(a.out, a.fd_check):
            print("wrote", p)
    print("OK" if ok else "VALIDATION FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
