"""Times jaxgan's DCGAN convolutions against torch's, per layer and whole networks, in ONE process.

    python benchmarks/conv_transpose.py [--batch 128] [--repeats 5] [--ref-repeats 2]
                                        [--parts layers,models,step] [--slow] [--json OUT]

For every DCGAN layer shape (G: ConvTranspose2d 100->512 on 1x1, 512->256 4->8, 256->128
8->16, 128->64 16->32, 64->3 32->64; D: Conv2d 3->64 64->32, ..., 512->1 4->1), the forward
and the forward+backward (gradients w.r.t. input and kernel) of

  torch       torch.nn.ConvTranspose2d / Conv2d (oneDNN), eager, default threads
  fast        jaxgan.ops.conv.conv_transpose2d / conv2d: what the layers run (sub-pixel
              forward + custom VJP; a matmul for the 1x1 / whole-window layers)
  xla         conv_transpose2d_reference / conv2d_reference: lax.conv_general_dilated (lhs-
              dilated for the transposed conv) differentiated by JAX, the former layers
  xla_nchw    the same in NCHW / OIHW (is XLA:CPU faster in NCHW?)
  subpixel_ad (with --slow) the sub-pixel forward differentiated by JAX: its kernel gradient
              is even slower than xla's, which is why the custom VJP exists
  vjp_conv    (G layer 0 only) the custom-VJP sub-pixel path instead of the matmul

then the whole G and D forward+backward (train-mode BatchNorm; G: grads w.r.t. params, D:
w.r.t. params and images) and a whole train step (jaxgan.steps.make_train_chunk, 1 step on a
uint8 batch, seed 000's recipe) against an inline torch loop doing the DCGAN tutorial's step,
each with the layers' fast convolutions and with the reference ones (patched in while tracing).

Timing: every candidate runs once per round, rounds interleaved, median over rounds; the first
call (compilation for jax) is timed separately and excluded. The machine is shared and noisy:
read the x-torch ratios, which are measured side by side. JAX results are checked against torch
(max |err| forward, max relative err of gradients) and printed with the timings.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxgan.ops import conv  # noqa: E402

G_LAYERS = [  # name, cin, cout, k, s, p, h
    ("G convt0 100->512 1->4", 100, 512, 4, 1, 0, 1),
    ("G convt3 512->256 4->8", 512, 256, 4, 2, 1, 4),
    ("G convt6 256->128 8->16", 256, 128, 4, 2, 1, 8),
    ("G convt9 128->64 16->32", 128, 64, 4, 2, 1, 16),
    ("G convt12 64->3 32->64", 64, 3, 4, 2, 1, 32),
]
D_LAYERS = [
    ("D conv0 3->64 64->32", 3, 64, 4, 2, 1, 64),
    ("D conv2 64->128 32->16", 64, 128, 4, 2, 1, 32),
    ("D conv5 128->256 16->8", 128, 256, 4, 2, 1, 16),
    ("D conv8 256->512 8->4", 256, 512, 4, 2, 1, 8),
    ("D conv11 512->1 4->1", 512, 1, 4, 1, 0, 4),
]


def _block(out):
    return jax.block_until_ready(out)


def run_rounds(cands: dict, rounds: int, slow: dict) -> dict:
    """cands: name -> {phase: thunk}. One call each per round, interleaved; median seconds.

    The first call of every thunk (jax: compile + run) is timed apart and excluded. `slow`:
    name or (name, phase) -> round count for candidates too slow for `rounds`.
    """
    first, times = {}, {n: {ph: [] for ph in c} for n, c in cands.items()}
    for n, c in cands.items():
        for ph, f in c.items():
            t = time.perf_counter()
            f()
            first[(n, ph)] = time.perf_counter() - t
    for r in range(rounds):
        for n, c in cands.items():
            for ph, f in c.items():
                if r >= slow.get((n, ph), slow.get(n, rounds)):
                    continue
                t = time.perf_counter()
                f()
                times[n][ph].append(time.perf_counter() - t)
    return {n: {ph: {"ms": 1e3 * float(np.median(v)), "first_s": first[(n, ph)], "n": len(v)}
                for ph, v in d.items()} for n, d in times.items()}


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _relerr(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _xla_nchw(transpose, s, p):
    def f(x, kernel):  # x NCHW, kernel as stored (kh, kw, ., .)
        if transpose:
            k, q = kernel.shape[0], kernel.shape[0] - 1 - p
            rhs = jnp.flip(kernel, (0, 1)).transpose(2, 3, 0, 1)  # (out, in, kh, kw)
            return lax.conv_general_dilated(x, rhs, (1, 1), ((q, q), (q, q)), lhs_dilation=(s, s),
                                            dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return lax.conv_general_dilated(x, kernel.transpose(3, 2, 0, 1), (s, s), ((p, p), (p, p)),
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return f


def bench_layer(spec, transpose, batch, rounds, ref_rounds, slow_cands):
    name, cin, cout, k, s, p, h = spec
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    m = (torch.nn.ConvTranspose2d if transpose else torch.nn.Conv2d)(cin, cout, k, s, p, bias=False)
    xt = torch.from_numpy(rng.standard_normal((batch, cin, h, h), dtype=np.float32)).requires_grad_()
    out = m(xt)
    ct = torch.from_numpy(rng.standard_normal(out.shape, dtype=np.float32))
    out.backward(ct)
    want = (_nhwc(out), _nhwc(xt.grad), m.weight.grad.numpy().transpose(2, 3, 1, 0))
    kernel = jnp.asarray(m.weight.detach().numpy().transpose(2, 3, 1, 0))
    x, c = jnp.asarray(_nhwc(xt)), jnp.asarray(ct.numpy().transpose(0, 2, 3, 1))
    xc, cc = jnp.asarray(xt.detach().numpy()), jnp.asarray(ct.numpy())

    fast = conv.conv_transpose2d if transpose else conv.conv2d
    ref = conv.conv_transpose2d_reference if transpose else conv.conv2d_reference
    funcs = {"fast": (fast, "nhwc"), "xla": (ref, "nhwc"), "xla_nchw": (_xla_nchw(transpose, s, p), "nchw")}
    if transpose and h == 1:
        out_hw = ((h - 1) * s - 2 * p + k,) * 2
        funcs["vjp_conv"] = (lambda x, kk, s, p: conv.conv_transpose2d_custom(x, kk, s, p, out_hw), "nhwc")
    if transpose and slow_cands and s > 1:
        def subpixel_ad(x, kk, s, p):
            return conv.subpixel_conv_transpose2d(x, kk, s, p, ((h - 1) * s - 2 * p + k,) * 2)
        funcs["subpixel_ad"] = (subpixel_ad, "nhwc")

    cands, checks = {}, {}
    for cname, (f, layout) in funcs.items():
        if layout == "nhwc":
            fw = jax.jit(lambda x, kk, f=f: f(x, kk, s, p))
        else:
            fw = jax.jit(f)
        bw = jax.jit(lambda x, kk, c, fw=fw: jax.vjp(fw, x, kk)[1](c))
        xx, cx = (x, c) if layout == "nhwc" else (xc, cc)
        cands[cname] = {"fwd": (lambda fw=fw, xx=xx: _block(fw(xx, kernel))),
                        "fwd+bwd": (lambda bw=bw, xx=xx, cx=cx: _block(bw(xx, kernel, cx)))}
        if cname in ("fast", "xla"):  # make_train_chunk runs the step inside lax.scan
            def in_scan(x, kk, c, fw=fw):
                return lax.scan(lambda carry, _: (carry, jax.vjp(fw, x, kk)[1](c)), 0, None, length=1)[1]
            bws = jax.jit(in_scan)
            cands[cname]["fwd+bwd in scan"] = lambda bws=bws, xx=xx, cx=cx: _block(bws(xx, kernel, cx))
        checks[cname] = (fw, bw, xx, cx, layout)

    def t_fwd():
        with torch.no_grad():
            m(xt)

    def t_bwd():
        xt.grad = None
        m.weight.grad = None
        m(xt).backward(ct)

    cands["torch"] = {"fwd": t_fwd, "fwd+bwd": t_bwd}
    slow = {"xla": ref_rounds, "xla_nchw": ref_rounds, "subpixel_ad": 1}
    res = run_rounds(cands, rounds, slow)  # compiles first (timed as first_s), then the rounds
    for cname, (fw, bw, xx, cx, layout) in checks.items():
        y = np.asarray(fw(xx, kernel))
        gx, gk = bw(xx, kernel, cx)
        if layout == "nchw":
            y, gx = y.transpose(0, 2, 3, 1), np.asarray(gx).transpose(0, 2, 3, 1)
        res[cname]["check"] = {"fwd_abs_err": float(np.max(np.abs(y - want[0]))),
                               "dx_rel_err": _relerr(gx, want[1]), "dk_rel_err": _relerr(gk, want[2])}
    return res


@contextlib.contextmanager
def reference_convs():
    """Makes the layers trace the straightforward convolutions (the former implementation)."""
    saved = conv.conv2d, conv.conv_transpose2d
    conv.conv2d, conv.conv_transpose2d = conv.conv2d_reference, conv.conv_transpose2d_reference
    try:
        yield
    finally:
        conv.conv2d, conv.conv_transpose2d = saved


def _traced(impl, f):
    """f's first call (the trace) under `impl`; later calls hit jit's cache."""
    def g():
        if not g.traced:
            g.traced = True
            with (reference_convs() if impl == "xla" else contextlib.nullcontext()):
                return f()
        return f()
    g.traced = False
    return g


def torch_dcgan():
    """Seed 000's Generator and Discriminator (torch_ref.dcgan_celeba), initialised by its weights_init."""
    from torch_ref import dcgan_celeba

    net_g, net_d = dcgan_celeba.Generator(1), dcgan_celeba.Discriminator(1)
    net_g.apply(dcgan_celeba.weights_init)
    net_d.apply(dcgan_celeba.weights_init)
    return net_g, net_d


def bench_models(batch, rounds, ref_rounds):
    from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    net_g, net_d = torch_dcgan()
    rng = np.random.default_rng(0)
    z = rng.standard_normal((batch, 100), dtype=np.float32)
    img = np.tanh(rng.standard_normal((batch, 64, 64, 3), dtype=np.float32))
    ct_g = rng.standard_normal((batch, 64, 64, 3), dtype=np.float32)
    ct_d = rng.standard_normal((batch,), dtype=np.float32)
    zt = torch.from_numpy(z.reshape(batch, 100, 1, 1))
    it = torch.from_numpy(np.ascontiguousarray(img.transpose(0, 3, 1, 2))).requires_grad_()
    ctg_t = torch.from_numpy(np.ascontiguousarray(ct_g.transpose(0, 3, 1, 2)))
    ctd_t = torch.from_numpy(ct_d)

    G, D = DCGANGenerator(64, 3), DCGANDiscriminator(64)
    gv = jax.jit(lambda k: G.init(k, jnp.zeros((1, 100)), train=False))(jax.random.PRNGKey(0))
    dv = jax.jit(lambda k: D.init(k, jnp.zeros((1, 64, 64, 3)), train=False))(jax.random.PRNGKey(1))

    def make_fns():  # fresh closures per implementation: no trace cache shared between them
        def g_fb(params, stats, z, ct):
            def f(params):
                return G.apply({"params": params, "batch_stats": stats}, z, train=True, mutable=["batch_stats"])
            (y, new), vjp = jax.vjp(f, params)
            return vjp((ct, jax.tree_util.tree_map(jnp.zeros_like, new)))[0]

        def d_fb(params, stats, x, ct):
            def f(params, x):
                return D.apply({"params": params, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            (y, new), vjp = jax.vjp(f, params, x)
            return vjp((ct, jax.tree_util.tree_map(jnp.zeros_like, new)))

        return jax.jit(g_fb), jax.jit(d_fb)

    args_g = (gv["params"], gv["batch_stats"], jnp.asarray(z), jnp.asarray(ct_g))
    args_d = (dv["params"], dv["batch_stats"], jnp.asarray(img), jnp.asarray(ct_d))
    cands = {}
    for impl in ("fast", "xla"):
        fg, fd = make_fns()
        cands[impl] = {"G fwd+bwd": _traced(impl, lambda fg=fg: _block(fg(*args_g))),
                       "D fwd+bwd": _traced(impl, lambda fd=fd: _block(fd(*args_d)))}

    def tg():
        net_g.zero_grad()
        net_g(zt).backward(ctg_t)

    def td():
        net_d.zero_grad()
        it.grad = None
        net_d(it).view(-1).backward(ctd_t)

    net_g.train(), net_d.train()
    cands["torch"] = {"G fwd+bwd": tg, "D fwd+bwd": td}
    return run_rounds(cands, rounds, {"xla": ref_rounds})


def bench_step(batch, rounds, ref_rounds, ref_scan_rounds):
    from jaxgan.config import load_config
    from jaxgan.gan import build_gan, init_state
    from jaxgan.steps import make_train_chunk, make_train_step, step_key

    cfg = load_config("configs/dcgan_celeba.yaml", [f"train.batch_size={batch}"])
    gan = build_gan(cfg, (64, 64, 3))
    state = init_state(gan, cfg.seed)
    u8 = np.random.default_rng(0).integers(0, 256, (1, batch, 64, 64, 3), dtype=np.uint8)
    batches = jnp.asarray(u8)
    cands = {}
    key = step_key(state)
    for impl in ("fast", "xla"):
        chunk, step = make_train_chunk(gan), jax.jit(make_train_step(gan))
        cands[impl] = {"chunk (scan) step": _traced(impl, lambda chunk=chunk: _block(chunk(state, batches))),
                       "jit step": _traced(impl, lambda step=step: _block(step(state, batches[0], key)))}

    # The DCGAN tutorial's step (seed 000, torch_ref.dcgan_celeba.train_step) on the same uint8 batch.
    from torch_ref import dcgan_celeba

    torch.manual_seed(999)
    net_g, net_d = torch_dcgan()
    criterion = torch.nn.BCELoss()
    opt_d, opt_g = dcgan_celeba.make_optimizers(net_d, net_g)
    data = torch.from_numpy(np.ascontiguousarray(u8[0].transpose(0, 3, 1, 2)))

    def torch_step():
        real = data.float().div_(127.5).sub_(1.0)  # ToTensor + Normalize((.5,)*3, (.5,)*3)
        noise = dcgan_celeba.draw_noise(batch)
        dcgan_celeba.train_step(net_g, net_d, criterion, opt_d, opt_g, real, noise)

    cands["torch"] = {"train step": torch_step}
    return run_rounds(cands, rounds, {"xla": ref_rounds, ("xla", "chunk (scan) step"): ref_scan_rounds})


def print_table(title, res, phases, torch_phase=None):
    print(f"\n{title}")
    head = "  {:<12s}".format("") + "".join(f"{ph:>24s}" for ph in phases) + "   first call (s)"
    print(head)
    for cname, d in res.items():
        row = f"  {cname:<12s}"
        for ph in phases:
            if ph in d:
                ms, tms = d[ph]["ms"], res["torch"][(torch_phase or {}).get(ph, ph)]["ms"]
                row += f"{ms:13.1f} ms {ms / tms:6.2f}x"
            else:
                row += f"{'-':>24s}"
        row += "   " + " ".join(f"{d[ph]['first_s']:.2f}" for ph in phases if ph in d)
        if "check" in d:
            ch = d["check"]
            row += f"   err fwd {ch['fwd_abs_err']:.1e} dx {ch['dx_rel_err']:.1e} dk {ch['dk_rel_err']:.1e}"
        print(row, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds per candidate")
    ap.add_argument("--ref-repeats", type=int, default=2, help="rounds for the slow reference (xla) candidates")
    ap.add_argument("--ref-scan-repeats", type=int, default=1,
                    help="rounds for the reference train step inside make_train_chunk's scan (minutes each)")
    ap.add_argument("--parts", default="layers,models,step")
    ap.add_argument("--layers", default="", help="comma-separated substrings of layer names to keep")
    ap.add_argument("--slow", action="store_true", help="also time the sub-pixel forward under JAX autodiff")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    parts = a.parts.split(",")
    meta = {"batch": a.batch, "repeats": a.repeats, "ref_repeats": a.ref_repeats, "jax": jax.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "loadavg_start": os.getloadavg(),
            "command": " ".join(["python"] + sys.argv)}
    print(f"batch {a.batch}, {a.repeats} rounds (reference: {a.ref_repeats}), torch threads "
          f"{meta['torch_threads']}, load average {meta['loadavg_start'][0]:.1f}; ms = median, "
          "x = ratio to torch in the same rounds", flush=True)
    out = {"meta": meta, "layers": {}, "models": {}, "step": {}}
    if "layers" in parts:
        keep = [s for s in a.layers.split(",") if s]
        for spec, transpose in [(s, True) for s in G_LAYERS] + [(s, False) for s in D_LAYERS]:
            if keep and not any(k in spec[0] for k in keep):
                continue
            res = bench_layer(spec, transpose, a.batch, a.repeats, a.ref_repeats, a.slow)
            out["layers"][spec[0]] = res
            jax.clear_caches()  # keep the process small: one executable set per layer
            gc.collect()
            print_table(spec[0], res, ["fwd", "fwd+bwd", "fwd+bwd in scan"], {"fwd+bwd in scan": "fwd+bwd"})
    if "models" in parts:
        res = bench_models(a.batch, a.repeats, a.ref_repeats)
        out["models"] = res
        print_table("whole networks (ngf = ndf = 64)", res, ["G fwd+bwd", "D fwd+bwd"])
    if "step" in parts:
        res = bench_step(a.batch, a.repeats, a.ref_repeats, a.ref_scan_repeats)
        out["step"] = res
        print_table("train step (seed 000: D real+fake, G through updated D, Adam); x = vs torch's step", res,
                    ["chunk (scan) step", "jit step", "train step"],
                    {"chunk (scan) step": "train step", "jit step": "train step"})
    meta["loadavg_end"] = os.getloadavg()
    meta["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nload average at the end {meta['loadavg_end'][0]:.1f}, peak RSS {meta['max_rss_mb']:.0f} MB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
