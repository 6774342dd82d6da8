#!/usr/bin/env python3
"""The PyTorch training baseline of the GPU trainer, and the side-by-side table.

Reads what GpuTrainingBenchmark (training test sources) wrote into --dir: our model file
(model.safetensors, names as in docs/model.md), the batches (batches.bin), the CPU model's logits of
the first 1,024 examples (logits.f32) and, when there, our timings (ours.json). Builds the same
Hiformer in PyTorch from the model file, trainable: the embedding tables as one sparse nn.Embedding
(categorical fields side by side) and one sparse nn.EmbeddingBag (bags, mean), trained with
SparseAdam (lazy Adam on the rows a batch uses, as ours), every other weight an nn.Parameter under
fused Adam; fp32 with TF32 off; no dropout, lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay
(the Java side's settings). Checks its forward logits against our CPU model on the first batch
(prints the max error), then times whole training steps (zero_grad, forward, loss, backward, the
optimisers) on the same batches at each batch size, in three modes:

  eager     the model as written
  compile   torch.compile of the model (default mode); the optimisers eager
  graph     one CUDA graph of the whole step: dense embedding gradients and fused Adam with
            capturable=True over everything (sparse gradients cannot be captured), so it updates
            every row of every table each step: more work than lazy Adam, fewer launches

Each: CUDA events over --steps steps, --repeats times; median and spread per step. Writes
DIR/torch.json, DIR/train-bench.csv and DIR/train-bench.md (beside ours when ours.json is there).
Batches are on the GPU before timing (ours copy each batch's inputs in every step).
"""
import argparse
import json
import os
import statistics
import struct
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open


def peak_tflops(name):
    """fp32 (non-tensor) peak, datasheet, dense: H100 SXM and H200 67 TFLOP/s, H100 PCIe 51."""
    return 51.0 if "PCIe" in name else 67.0


def read_batches(path, device):
    data = bytearray(open(path, "rb").read())
    if bytes(data[:8]) != b"HFTRB1\0\0":
        raise SystemExit(f"{path}: not a batches file (HFTRB1)")
    n, nc, nb, nd, t = struct.unpack_from("<5i", data, 8)
    at = 28

    def take(count, dtype):
        nonlocal at
        v = torch.frombuffer(data, dtype=dtype, count=count, offset=at) if count else torch.empty(0, dtype=dtype)
        at += 4 * count
        return v.clone().to(device)

    cat = take(n * nc, torch.int32).view(n, nc)
    off = take(n * nb + 1, torch.int32)
    (nids,) = struct.unpack_from("<i", data, at)
    at += 4
    ids = take(nids, torch.int32)
    dense = take(n * nd, torch.float32).view(n, nd)
    labels = take(n * t, torch.float32).view(n, t)
    mask = take(n * t, torch.float32).view(n, t)
    return dict(n=n, nb=nb, cat=cat, off=off, ids=ids, dense=dense, labels=labels, mask=mask)


def batch(data, k, size):
    """Batch k of `size`: examples [k·size, (k+1)·size), as GpuTrainingBenchmark.slice cuts them."""
    a, b, nb = k * size, (k + 1) * size, data["nb"]
    off = data["off"][a * nb: b * nb + 1].long()
    base = int(off[0])
    return (data["cat"][a:b], data["ids"][base: int(off[-1])].long(), off - base, data["dense"][a:b],
            data["labels"][a:b], data["mask"][a:b])


def _bases(fields):
    out, at = [], 0
    for f in fields:
        out.append(at)
        at += f["vocab"]
    return out


class Hiformer(torch.nn.Module):
    """docs/model.md, trainable: per-token weights as batched einsums, attention through
    scaled_dot_product_attention, the tables of each kind side by side in one embedding."""

    def __init__(self, path, device, sparse):
        super().__init__()
        with safe_open(path, "pt", device=device) as f:
            cfg = json.loads(f.metadata()["config"])
            t = {k: f.get_tensor(k) for k in f.keys()}
        self.cfg = cfg
        P = lambda x: torch.nn.Parameter(x.clone())
        fields = cfg["fields"]
        self.d = cfg["token_dim"]
        self.heads = cfg["heads"]
        self.T = len(cfg["tasks"])
        embedded = [f for f in fields if f["kind"] != "dense"]
        cats = [f for f in embedded if f["kind"] == "categorical"]
        bags = [f for f in embedded if f["kind"] == "bag"]
        self.nbag = len(bags)
        self.dt = cfg.get("dense_tokens", 0) if any(f["kind"] == "dense" for f in fields) else 0
        self.L = len(embedded) + self.dt + self.T
        self.cat_emb = torch.nn.Embedding.from_pretrained(torch.cat([t["emb." + f["name"]] for f in cats]),
                                                          freeze=False, sparse=sparse) if cats else None
        self.register_buffer("cat_base", torch.tensor(_bases(cats), device=device, dtype=torch.int64))
        self.bag_emb = torch.nn.EmbeddingBag.from_pretrained(torch.cat([t["emb." + f["name"]] for f in bags]),
                                                             freeze=False, mode="mean", sparse=sparse) if bags else None
        self.register_buffer("bag_base", torch.tensor(_bases(bags), device=device, dtype=torch.int64))
        order = [i for i, f in enumerate(embedded) if f["kind"] == "categorical"] + \
                [i for i, f in enumerate(embedded) if f["kind"] == "bag"]
        self.register_buffer("schema", torch.tensor([order.index(i) for i in range(len(embedded))],
                                                    device=device, dtype=torch.int64))
        if self.dt:
            self.dense_w, self.dense_b = P(t["dense.weight"]), P(t["dense.bias"])
        self.task_tokens = P(t["task_tokens"])
        names = ["ln1.weight", "ln1.bias", "attn.wq", "attn.uk", "attn.vk", "attn.uv", "attn.vv", "attn.wo",
                 "ln2.weight", "ln2.bias", "ffn.w1", "ffn.b1", "ffn.w2", "ffn.b2"]
        self.layers = torch.nn.ModuleList()
        for l in range(cfg["layers"]):
            m = torch.nn.ParameterDict({k.replace(".", "_"): P(t[f"layers.{l}.{k}"]) for k in names})
            self.layers.append(m)
        self.final_g, self.final_b = P(t["final_ln.weight"]), P(t["final_ln.bias"])
        depth = len(cfg["tower_hidden"]) + 1
        self.towers = torch.nn.ParameterList()
        for j in range(self.T):
            for k in range(depth):
                self.towers.append(P(t[f"towers.{j}.{k}.weight"]))
                self.towers.append(P(t[f"towers.{j}.{k}.bias"]))
        self.depth = depth

    def embedding_parameters(self):
        return [m.weight for m in (self.cat_emb, self.bag_emb) if m is not None]

    def dense_parameters(self):
        emb = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in emb]

    def forward(self, cat, bag_ids, bag_offsets, dense):
        B, d, L, T, H = cat.shape[0], self.d, self.L, self.T, self.heads
        dh = d // H
        parts = []
        if self.cat_emb is not None:
            parts.append(self.cat_emb(cat.long() + self.cat_base))
        if self.bag_emb is not None:
            lengths = bag_offsets[1:] - bag_offsets[:-1]
            field = torch.arange(B * self.nbag, device=cat.device) % self.nbag
            ids = bag_ids + torch.repeat_interleave(self.bag_base[field], lengths)
            parts.append(self.bag_emb(ids, bag_offsets[:-1]).view(B, self.nbag, d))
        tokens = [torch.cat(parts, 1)[:, self.schema]] if parts else []
        if self.dt:
            tokens.append((dense @ self.dense_w + self.dense_b).view(B, self.dt, d))
        tokens.append(self.task_tokens.expand(B, T, d))
        x = torch.cat(tokens, 1)
        for w in self.layers:
            R = w["attn_wq"].shape[0]
            s = L - R
            z = F.layer_norm(x, (d,), w["ln1_weight"], w["ln1_bias"], 1e-5)
            q = torch.einsum("brd,rde->bre", z[:, s:], w["attn_wq"]).view(B, R, H, dh).transpose(1, 2)
            zf = z.reshape(B, L * d)
            k = ((zf @ w["attn_uk"]) @ w["attn_vk"]).view(B, L, H, dh).transpose(1, 2)
            v = ((zf @ w["attn_uv"]) @ w["attn_vv"]).view(B, L, H, dh).transpose(1, 2)
            o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, R, d)
            xp = x[:, s:] + torch.einsum("brd,rde->bre", o, w["attn_wo"])
            h = torch.einsum("brd,rdf->brf", F.layer_norm(xp, (d,), w["ln2_weight"], w["ln2_bias"], 1e-5), w["ffn_w1"])
            h = F.gelu(h + w["ffn_b1"], approximate="tanh")
            x = xp + torch.einsum("brf,rfd->brd", h, w["ffn_w2"]) + w["ffn_b2"]
        hf = F.layer_norm(x[:, -T:], (d,), self.final_g, self.final_b, 1e-5)
        logits = []
        for j in range(T):
            y = hf[:, j]
            for k in range(self.depth):
                wt, bs = self.towers[2 * (j * self.depth + k)], self.towers[2 * (j * self.depth + k) + 1]
                y = y @ wt + bs
                if k + 1 < self.depth:
                    y = torch.relu(y)
            logits.append(y[:, 0])
        return torch.stack(logits, 1)


def loss_of(logits, labels, mask):
    """docs/model.md, Heads and loss: sum over examples and tasks of mask·BCE-with-logits, over B."""
    return (mask * F.binary_cross_entropy_with_logits(logits, labels, reduction="none")).sum() / logits.shape[0]


ADAM = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def lazy_step_fn(model, forward):
    sparse = torch.optim.SparseAdam(model.embedding_parameters(), **ADAM)
    dense = torch.optim.Adam(model.dense_parameters(), fused=True, **ADAM)

    def step(cat, ids, off, dn, labels, mask):
        sparse.zero_grad(set_to_none=True)
        dense.zero_grad(set_to_none=True)
        loss = loss_of(forward(cat, ids, off, dn), labels, mask)
        loss.backward()
        sparse.step()
        dense.step()
        return loss
    return step


def graph_step_fn(model, first):
    """The whole step as one CUDA graph over static inputs that each call copies the batch into."""
    opt = torch.optim.Adam(model.parameters(), fused=True, capturable=True, **ADAM)
    static = [x.clone() for x in first]

    def body():
        opt.zero_grad(set_to_none=False)
        loss = loss_of(model(*static[:4]), static[4], static[5])
        loss.backward()
        opt.step()
        return loss
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = body()

    def step(*b):
        for s, x in zip(static, b):
            s.copy_(x)
        graph.replay()
        return out
    return step


def time_steps(step, batches, repeats):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for b in batches[:3]:
        step(*b)
    runs = []
    for _ in range(repeats):
        start.record()
        for b in batches:
            step(*b)
        stop.record()
        stop.synchronize()
        runs.append(start.elapsed_time(stop) / len(batches))
    return dict(ms=statistics.median(runs), min_ms=min(runs), max_ms=max(runs), runs=runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--batches", default="1024,4096,16384")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="eager,compile,graph")
    a = ap.parse_args()
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    name = torch.cuda.get_device_name()
    model_path = os.path.join(a.dir, "model.safetensors")
    data = read_batches(os.path.join(a.dir, "batches.bin"), dev)
    print(f"torch {torch.__version__} on {name}; {data['n']:,} examples", flush=True)

    check = Hiformer(model_path, dev, sparse=True)
    want = torch.frombuffer(bytearray(open(os.path.join(a.dir, "logits.f32"), "rb").read()), dtype=torch.float32)
    n = want.numel() // check.T
    with torch.no_grad():
        got = check(*batch(data, 0, n)[:4])
    err = (got.cpu() - want.view(n, check.T)).abs().max().item()
    print(f"forward check: max |torch - our CPU model| {err:.3g} over {n} examples", flush=True)
    del check

    ours = None
    ours_path = os.path.join(a.dir, "ours.json")
    if os.path.exists(ours_path):
        ours = json.load(open(ours_path))
    flops = ours["train_flops_per_example"] if ours else None
    rows = []
    for size in [int(b) for b in a.batches.split(",")]:
        count = min(a.steps, data["n"] // size)
        batches = [batch(data, k, size) for k in range(count)]
        row = dict(batch=size, steps=count)
        for mode in a.modes.split(","):
            try:
                if mode == "graph" and data["nb"] > 0:
                    raise RuntimeError("bags vary in length: a captured graph needs fixed shapes")
                model = Hiformer(model_path, dev, sparse=mode != "graph")
                if mode == "eager":
                    step = lazy_step_fn(model, model)
                elif mode == "compile":
                    step = lazy_step_fn(model, torch.compile(model))
                else:
                    step = graph_step_fn(model, batches[0])
                r = time_steps(step, batches, a.repeats)
                row[mode] = r
                print(f"batch {size} {mode}: {r['ms']:.3f} ms a step (min {r['min_ms']:.3f}, max {r['max_ms']:.3f}),"
                      f" {size / r['ms'] / 1e3:.3f} M examples/s", flush=True)
                del model, step
                torch.cuda.empty_cache()
            except Exception as e:  # a mode PyTorch cannot run is reported, not fatal
                row[mode] = dict(error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                print(f"batch {size} {mode}: failed: {row[mode]['error']}", flush=True)
        if ours:
            o = next((r for r in ours["results"] if r["batch"] == size), None)
            row["ours"] = o
        rows.append(row)

    with open(os.path.join(a.dir, "torch.json"), "w") as f:
        json.dump(dict(torch=torch.__version__, device=name, forward_max_error=err, ours=ours, rows=rows), f, indent=1)
    peak = peak_tflops(name)
    modes = a.modes.split(",")
    head = ["batch", "ours ms", "ours M ex/s", "ours TFLOP/s", "% fp32 peak"] + \
           [f"torch {m} ms" for m in modes] + [f"torch {m} M ex/s" for m in modes] + ["ours / best torch"]
    csv = [",".join(head)]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        o = r.get("ours")
        cells = [str(r["batch"])]
        if o:
            tf = r["batch"] / (o["ms"] / 1e3) * flops / 1e12
            cells += [f"{o['ms']:.3f} ({o['min_ms']:.3f}-{o['max_ms']:.3f})", f"{r['batch'] / o['ms'] / 1e3:.3f}",
                      f"{tf:.2f}", f"{100 * tf / peak:.1f}%"]
        else:
            cells += ["", "", "", ""]
        times = [r[m]["ms"] for m in modes if "ms" in r.get(m, {})]
        cells += [f"{r[m]['ms']:.3f} ({r[m]['min_ms']:.3f}-{r[m]['max_ms']:.3f})" if "ms" in r.get(m, {})
                  else "failed" for m in modes]
        cells += [f"{r['batch'] / r[m]['ms'] / 1e3:.3f}" if "ms" in r.get(m, {}) else "" for m in modes]
        cells.append(f"{min(times) / o['ms']:.2f}x" if o and times else "")
        csv.append(",".join(c.replace(",", "") for c in cells))
        md.append("| " + " | ".join(cells) + " |")
    note = (f"\n{name}; torch {torch.__version__}; fp32, TF32 off; forward check max error {err:.3g}; "
            f"ours: {ours['results'][0]['step'] if ours else 'not timed'}; FLOPs a step taken as 3x the forward's "
            f"({flops:.3g} an example); peak {peak} TFLOP/s fp32.\n" if flops else "\n")
    open(os.path.join(a.dir, "train-bench.csv"), "w").write("\n".join(csv) + "\n")
    open(os.path.join(a.dir, "train-bench.md"), "w").write("\n".join(md) + "\n" + note)
    print("\n".join(md) + "\n" + note)


if __name__ == "__main__":
    sys.exit(main())
