#!/usr/bin/env python3
"""The PyTorch / OpenBLAS side of `ferrite bench` (issue 3, section 4).

Measures, with the given thread count, the same five workloads as `ferrite bench` and prints one
JSON object on stdout (`ferrite bench --pytorch PYTHON` runs this script and merges the numbers):

1. sgemm n×n×n through numpy (OpenBLAS) and torch.mm, n in 256..2048;
2. the SPP-net training step (batch 64, 1×28×28, conv 1→16, ReLU, maxpool2, conv 16→32, ReLU,
   SPP {1,2,4} max, linear 672→10, cross-entropy, SGD);
3. a transformer block (d_model 256, 4 heads, seq 256, batch 8, causal) forward + backward;
4. scaled_dot_product_attention forward at seq 1k/4k/8k (batch 1, 8 heads, head dim 64), time and
   peak extra resident memory of a cold call in a fresh process (VmHWM after resetting it through
   /proc/self/clear_refs, with malloc returning blocks of 64 KiB or more to the OS);
5. the per-op overhead of a 16-element add, without and with autograd recording.

Pinned versions (what docs/benchmarks.md was measured with): torch 2.15.0 (CPU kernels of the
cu132 wheel from PyPI), numpy 2.4.6 (scipy-openblas 0.3.31), Python 3.11.
Usage: python pytorch_bench.py --threads 2 [--quick] [--sections gemm,spp,transformer,attention,overhead]
"""
import argparse
import json
import os
import sys
import time

SECTIONS = ["gemm", "spp", "transformer", "attention", "overhead"]


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--attn-mem", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=None, help="seconds of repetitions per case")
    return ap.parse_args()


ARGS = parse()
# BLAS thread pools read these at import time.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads)
BUDGET = ARGS.budget if ARGS.budget is not None else (0.5 if ARGS.quick else 2.0)


def measure(fn, budget=None, min_iters=3, max_iters=1000):
    """Median seconds of `fn()` after one warm-up call."""
    budget = BUDGET if budget is None else budget
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def rss_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def peak_extra(fn):
    """Peak resident bytes added while `fn()` runs (None where /proc does not allow it)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    before = rss_bytes("VmRSS")
    fn()
    return rss_bytes("VmHWM") - before


def attention_memory(s):
    """Peak extra memory of one cold SDPA call at seq `s`, measured in a fresh process whose
    malloc returns every block of 64 KiB or more to the OS (so freed memory cannot hide a peak)."""
    import subprocess
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(ARGS.threads), "--attn-mem", str(s)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return None


def attn_mem_child(s):
    q, k, v = (torch.randn(1, 8, s, 64) for _ in range(3))
    with torch.no_grad():
        small = [t[:, :, :64].contiguous() for t in (q, k, v)]
        F.scaled_dot_product_attention(*small)  # lazy initialisation outside the measurement
        extra = peak_extra(lambda: F.scaled_dot_product_attention(q, k, v))
    print(-1 if extra is None else extra)


def bench_gemm(out):
    sizes = [256, 512, 1024] if ARGS.quick else [256, 512, 1024, 2048]
    res = {}
    for n in sizes:
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        c = np.empty((n, n), np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tc = torch.empty(n, n)
        res[str(n)] = {
            "numpy_s": measure(lambda: np.matmul(a, b, out=c)),
            "torch_s": measure(lambda: torch.mm(ta, tb, out=tc)),
        }
    out["sgemm"] = res


def bench_spp(out):
    torch.manual_seed(0)
    conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
    conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
    fc = torch.nn.Linear(32 * (1 + 4 + 16), 10)
    params = list(conv1.parameters()) + list(conv2.parameters()) + list(fc.parameters())
    opt = torch.optim.SGD(params, lr=0.01)
    x = torch.randn(64, 1, 28, 28)
    y = torch.randint(0, 10, (64,))

    def step():
        h = F.max_pool2d(F.relu(conv1(x)), 2)
        h = F.relu(conv2(h))
        n = h.shape[0]
        spp = torch.cat([F.adaptive_max_pool2d(h, l).reshape(n, -1) for l in (1, 2, 4)], dim=1)
        loss = F.cross_entropy(fc(spp), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    out["spp_step_s"] = measure(step)


def bench_transformer(out):
    torch.manual_seed(0)
    b, s, d, h = 8, 256, 256, 4
    p = lambda *shape: (torch.randn(*shape) * 0.02).requires_grad_()  # noqa: E731
    w_qkv, w_o, w1, w2 = p(3 * d, d), p(d, d), p(4 * d, d), p(d, 4 * d)
    b_qkv, b_o, b1, b2 = p(3 * d), p(d), p(4 * d), p(d)
    ln1w, ln1b, ln2w, ln2b = (torch.ones(d).requires_grad_(), torch.zeros(d).requires_grad_(),
                              torch.ones(d).requires_grad_(), torch.zeros(d).requires_grad_())
    x = torch.randn(b, s, d).requires_grad_()

    def step():
        hh = F.layer_norm(x, (d,), ln1w, ln1b)
        qkv = F.linear(hh, w_qkv, b_qkv).reshape(b, s, 3, h, d // h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        x1 = x + F.linear(a.permute(0, 2, 1, 3).reshape(b, s, d), w_o, b_o)
        y = x1 + F.linear(F.gelu(F.linear(F.layer_norm(x1, (d,), ln2w, ln2b), w1, b1)), w2, b2)
        y.sum().backward()

    out["transformer_s"] = measure(step)


def bench_attention(out):
    res = {}
    seqs = [1024, 4096] if ARGS.quick else [1024, 4096, 8192]
    for s in seqs:
        q, k, v = (torch.randn(1, 8, s, 64) for _ in range(3))
        with torch.no_grad():
            secs = measure(lambda: F.scaled_dot_product_attention(q, k, v), min_iters=2)
        extra = attention_memory(s)
        res[str(s)] = {"seconds": secs, "extra_bytes": extra}
    out["attention"] = res


def bench_overhead(out):
    n = 20000 if ARGS.quick else 200000
    a, b = torch.randn(16), torch.randn(16)

    def loop():
        for _ in range(n):
            torch.add(a, b)

    with torch.no_grad():
        out["add16_ns"] = measure(loop, min_iters=3) / n * 1e9
    ag, bg = a.clone().requires_grad_(), b.clone().requires_grad_()

    def loop_grad():
        for _ in range(n):
            torch.add(ag, bg)

    out["add16_grad_ns"] = measure(loop_grad, min_iters=3) / n * 1e9


def blas_version():
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f'{blas.get("name")} {blas.get("version")}'
    except Exception:  # older numpy
        return "unknown"


def main():
    if ARGS.attn_mem is not None:
        return attn_mem_child(ARGS.attn_mem)
    out = {
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "blas": blas_version(),
        },
        "threads": ARGS.threads,
        "torch_threads": torch.get_num_threads(),
    }
    wanted = [s for s in ARGS.sections.split(",") if s]
    for name in wanted:
        if name not in SECTIONS:
            sys.exit(f"unknown section {name!r}; choose from {','.join(SECTIONS)}")
        globals()["bench_" + name](out)
        print(f"pytorch_bench: {name} done", file=sys.stderr)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
