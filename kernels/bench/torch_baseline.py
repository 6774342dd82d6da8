#!/usr/bin/env python3
"""The PyTorch baseline of the fused CUDA kernel, and the comparison table.

Reads what CudaBenchmark wrote into --dir (our model file, the inputs, our logits and ours.json),
builds the same Hiformer (docs/model.md) in PyTorch from that model file, checks its logits
against ours, times eager and torch.compile in fp32 (TF32 off) and in tf32 on the same inputs
(already on the GPU, as ours are), and prints candidates/s, achieved TFLOP/s, the fraction of the
chip's peak and the ratios, also written to DIR/bench.md and DIR/bench.json.
"""
import argparse
import json
import os
import statistics
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open

# NVIDIA H200 SXM datasheet (dense): plain fp32 and the tf32 tensor cores
PEAK_TFLOPS = {"fp32": 67.0, "tf32": 495.0}


class Hiformer(torch.nn.Module):
    """docs/model.md, Tokens to Heads and loss, batched: per-token weights as batched matmuls (einsum), attention
    through scaled_dot_product_attention."""

    def __init__(self, path, device):
        super().__init__()
        with safe_open(path, "pt", device=device) as f:
            cfg = json.loads(f.metadata()["config"])
            t = {k: f.get_tensor(k) for k in f.keys()}
        self.cfg = cfg
        fields = cfg["fields"]
        self.d = d = cfg["token_dim"]
        self.heads = cfg["heads"]
        self.T = len(cfg["tasks"])
        embedded = [f for f in fields if f["kind"] != "dense"]
        cats = [f for f in embedded if f["kind"] == "categorical"]
        bags = [f for f in embedded if f["kind"] == "bag"]
        self.nbag = len(bags)
        self.dt = cfg.get("dense_tokens", 0) if any(f["kind"] == "dense" for f in fields) else 0
        self.L = len(embedded) + self.dt + self.T
        # one table per kind, fields side by side, so a gather is one call
        self.cat_table = torch.cat([t["emb." + f["name"]] for f in cats]) if cats else None
        self.register_buffer("cat_base", torch.tensor(_bases(cats), device=device, dtype=torch.int64))
        self.bag_table = torch.cat([t["emb." + f["name"]] for f in bags]) if bags else None
        self.register_buffer("bag_base", torch.tensor(_bases(bags), device=device, dtype=torch.int64))
        order = [i for i, f in enumerate(embedded) if f["kind"] == "categorical"] + \
                [i for i, f in enumerate(embedded) if f["kind"] == "bag"]
        self.register_buffer("schema", torch.tensor([order.index(i) for i in range(len(embedded))],
                                                    device=device, dtype=torch.int64))
        if self.dt:
            self.dense_w, self.dense_b = t["dense.weight"], t["dense.bias"]
        self.task_tokens = t["task_tokens"]
        self.layers = []
        for l in range(cfg["layers"]):
            p = f"layers.{l}."
            self.layers.append({k: t[p + k] for k in [
                "ln1.weight", "ln1.bias", "attn.wq", "attn.uk", "attn.vk", "attn.uv", "attn.vv", "attn.wo",
                "ln2.weight", "ln2.bias", "ffn.w1", "ffn.b1", "ffn.w2", "ffn.b2"]})
        self.final = (t["final_ln.weight"], t["final_ln.bias"])
        depth = len(cfg["tower_hidden"]) + 1
        self.towers = [[(t[f"towers.{j}.{k}.weight"], t[f"towers.{j}.{k}.bias"]) for k in range(depth)]
                       for j in range(self.T)]

    def forward(self, cat, bag_ids, bag_offsets, dense):
        B, d, L, T, H = cat.shape[0], self.d, self.L, self.T, self.heads
        dh = d // H
        parts = []
        if self.cat_table is not None:
            parts.append(F.embedding(cat.long() + self.cat_base, self.cat_table))
        if self.bag_table is not None:
            lengths = bag_offsets[1:] - bag_offsets[:-1]
            field = torch.arange(B * self.nbag, device=cat.device) % self.nbag
            ids = bag_ids.long() + torch.repeat_interleave(self.bag_base[field], lengths)
            parts.append(F.embedding_bag(ids, self.bag_table, bag_offsets[:-1].long(), mode="mean").view(B, self.nbag, d))
        x = torch.cat(parts, 1)[:, self.schema] if parts else None
        tokens = [] if x is None else [x]
        if self.dt:
            tokens.append((dense @ self.dense_w + self.dense_b).view(B, self.dt, d))
        tokens.append(self.task_tokens.expand(B, T, d))
        x = torch.cat(tokens, 1)
        for w in self.layers:
            R = w["attn.wq"].shape[0]
            s = L - R
            z = F.layer_norm(x, (d,), w["ln1.weight"], w["ln1.bias"], 1e-5)
            q = torch.einsum("brd,rde->bre", z[:, s:], w["attn.wq"]).view(B, R, H, dh).transpose(1, 2)
            zf = z.reshape(B, L * d)
            k = ((zf @ w["attn.uk"]) @ w["attn.vk"]).view(B, L, H, dh).transpose(1, 2)
            v = ((zf @ w["attn.uv"]) @ w["attn.vv"]).view(B, L, H, dh).transpose(1, 2)
            o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, R, d)
            xp = x[:, s:] + torch.einsum("brd,rde->bre", o, w["attn.wo"])
            h = torch.einsum("brd,rdf->brf", F.layer_norm(xp, (d,), w["ln2.weight"], w["ln2.bias"], 1e-5), w["ffn.w1"])
            h = F.gelu(h + w["ffn.b1"], approximate="tanh")
            x = xp + torch.einsum("brf,rfd->brd", h, w["ffn.w2"]) + w["ffn.b2"]
        hf = F.layer_norm(x[:, -T:], (d,), self.final[0], self.final[1], 1e-5)
        logits = []
        for j in range(T):
            y = hf[:, j]
            for k, (wt, bs) in enumerate(self.towers[j]):
                y = y @ wt + bs
                if k + 1 < len(self.towers[j]):
                    y = torch.relu(y)
            logits.append(y[:, 0])
        return torch.stack(logits, 1)


def _bases(fields):
    out, at = [], 0
    for f in fields:
        out.append(at)
        at += f["vocab"]
    return out


def device_ms(fn, args, millis):
    """Median over three runs of the device time per call (CUDA events), after a warm-up."""
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(3):
        fn(*args)
    start.record()
    fn(*args)
    stop.record()
    stop.synchronize()
    once = start.elapsed_time(stop)
    iters = int(max(3, min(2000, millis / max(once, 1e-3))))
    runs = []
    for _ in range(3):
        start.record()
        for _ in range(iters):
            fn(*args)
        stop.record()
        stop.synchronize()
        runs.append(start.elapsed_time(stop) / iters)
    return statistics.median(runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--batches", default="256,1024,4096,16384,65536")
    ap.add_argument("--millis", type=float, default=150)
    ap.add_argument("--check", type=int, default=4096, help="examples whose logits are compared with ours")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")]
    dev = "cuda"
    ours = json.load(open(os.path.join(a.dir, "ours.json")))
    flops = ours["flops_per_candidate"]
    model = Hiformer(os.path.join(a.dir, "model.safetensors"), dev)
    with safe_open(os.path.join(a.dir, "inputs.safetensors"), "pt", device=dev) as f:
        cat, bag_ids, bag_off, dense = (f.get_tensor(k) for k in
                                        ["input.cat", "input.bag_ids", "input.bag_offsets", "input.dense"])
    nb = model.nbag

    def inputs(n):
        off = bag_off[: n * nb + 1]
        return cat[:n], bag_ids[: int(off[-1])], off, dense[:n]

    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}; ours: {ours['device']}", flush=True)
    rows = []
    with torch.inference_mode():
        for prec in ["fp32", "tf32"]:
            torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
            torch.backends.cudnn.allow_tf32 = prec == "tf32"
            torch.set_float32_matmul_precision("highest" if prec == "fp32" else "high")
            mine = torch.frombuffer(bytearray(open(os.path.join(a.dir, f"logits-{prec}.f32"), "rb").read()),
                                    dtype=torch.float32).view(-1, model.T).to(dev)
            compiled = torch.compile(model)
            n = min(a.check, cat.shape[0])
            eager_logits = model(*inputs(n))
            comp_logits = compiled(*inputs(n))
            err = (eager_logits - mine[:n]).abs().max().item()
            errc = (comp_logits - mine[:n]).abs().max().item()
            print(f"{prec}: max |ours - torch eager| {err:.3g}, |ours - torch.compile| {errc:.3g} on {n} candidates",
                  flush=True)
            for b in batches:
                args = inputs(b)
                e = device_ms(model, args, a.millis)
                c = device_ms(compiled, args, a.millis)
                o = [r for r in ours["results"] if r["precision"] == prec and r["batch"] == b]
                best = min(o, key=lambda r: r["ms"])
                chosen = next(r for r in o if r["chosen"])
                rows.append(dict(precision=prec, batch=b, eager_ms=e, compile_ms=c, ours_ms=chosen["ms"],
                                 ours_variant=chosen["variant"], ours_best_ms=best["ms"],
                                 ours_best_variant=best["variant"], ours_end_to_end_ms=chosen.get("end_to_end_ms"),
                                 ours_error=chosen["max_abs_error"], torch_error=err))
                print(f"  {prec} batch {b}: eager {e:.4f} ms, compile {c:.4f} ms, ours {chosen['ms']:.4f} ms", flush=True)

    lines = ["| precision | batch | ours ms | ours M cand/s | ours TFLOP/s | % of peak | eager M/s | compile M/s "
             "| ours / eager | ours / compile | ours end-to-end ms |", "|" + "---|" * 11]
    for r in rows:
        mc = r["batch"] / r["ours_ms"] / 1e3
        tf = r["batch"] * flops / (r["ours_ms"] / 1e3) / 1e12
        peak = PEAK_TFLOPS["fp32"]  # both modes deliver fp32-accumulated results; tf32's own peak is below
        lines.append(f"| {r['precision']} | {r['batch']} | {r['ours_ms']:.4f} ({r['ours_variant']}) | {mc:.2f} | {tf:.1f} "
                     f"| {100 * tf / peak:.0f}% fp32, {100 * tf / PEAK_TFLOPS['tf32']:.0f}% tf32 "
                     f"| {r['batch'] / r['eager_ms'] / 1e3:.2f} | {r['batch'] / r['compile_ms'] / 1e3:.2f} "
                     f"| {r['eager_ms'] / r['ours_ms']:.1f}x | {r['compile_ms'] / r['ours_ms']:.1f}x "
                     f"| {r['ours_end_to_end_ms']:.4f} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.dir, "bench.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(a.dir, "bench.json"), "w") as f:
        json.dump(dict(torch=torch.__version__, device=torch.cuda.get_device_name(), ours=ours, rows=rows), f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
