#!/usr/bin/env python3
"""Golden fixtures from PyTorch for every op ops-ref exports (tests/tests/golden_pytorch.rs).

How to run (from the repository root; PyTorch is NOT a dependency of the project and CI does NOT
install it: CI only reads the committed tests/golden/*.safetensors files):

    python3 -m venv /work/torch-venv
    /work/torch-venv/bin/pip install torch==2.15.0 safetensors==0.8.0 numpy==2.4.6
    /work/torch-venv/bin/python tests/golden/generate.py          # rewrites tests/golden/*.safetensors

Pinned versions used for the committed fixtures: torch 2.15.0 (CPU kernels, float64),
safetensors 0.8.0, numpy 2.4.6, Python 3.11. Everything is seeded, so a rerun with the same
versions writes the same files.

Format. One safetensors file per op family. Each case `c` stores its inputs as `c/in/<key>`
(row-major, contiguous, float64 for float inputs, int64 for indices and targets, bool for bool
masks), its forward outputs `c/out/<i>`, the seeded random weight `c/w/<i>` of every
differentiable output, and the gradients `c/grad/<key>` of `loss = sum_i sum(out_i * w_i)`
(computed by `loss.backward()` in float64). The file's `__metadata__` has one key, `"golden"`:
JSON `{generator, torch (version), cases}` where `cases` is a list of `{name, op, inputs: [key | null, ...] (the op's input order), attrs: {...} (named as in
sdk/src/functional/mod.rs), outputs: n, weights: [i, ...], grads: [key, ...],
layouts: {key: "transposed"}, tol: {rtol, atol} (only where looser than the default), note}`.
A `"transposed"` input is recorded contiguous; the Rust test hands ops-ref a transposed
(non-contiguous) view with the same logical values, and PyTorch computed it through such a view too.

Conventions encoded here:
* Fully masked attention rows: Ferrite returns 0 output and 0 gradient. torch 2.15's CPU SDPA
  already does (its "safe softmax"); should a torch version return NaN there, `sdpa()` below
  zeroes those rows in a way that also zeroes their gradient (the rows' mask is opened and the
  output multiplied by 0), so the fixtures always hold Ferrite's convention.
* logsumexp over an all -inf slice: -inf with zero gradient (functional::logsumexp, field case
  C04); PyTorch gives a NaN gradient, so that case's expected gradient is computed with the
  slice replaced (`lse_ferrite`).
* Dropout: only the deterministic forms (training=false, or p=0) are recorded.
* Spatial pyramid pooling has no PyTorch op: it is composed as in functional/mod.rs, i.e.
  adaptive pooling to l x l for each level, each flattened to [N, C*l*l], concatenated.
"""

import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
D = torch.float64
HERE = os.path.dirname(os.path.abspath(__file__))


def _shape(shape):
    """`f(2, 3)`, `f((2, 3))` and `f()` / `f(())` (0-d) all work."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = shape[0]
    return tuple(shape)


class Family:
    def __init__(self, name, seed):
        self.name = name
        self.tensors = {}
        self.cases = []
        self.gen = torch.Generator().manual_seed(seed)

    # ---- seeded inputs -------------------------------------------------------------------------
    def randn(self, *shape, scale=1.0):
        return torch.randn(_shape(shape), generator=self.gen, dtype=D) * scale

    def unif(self, lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(_shape(shape), generator=self.gen, dtype=D)

    def randint(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.gen, dtype=torch.int64)

    def distinct(self, *shape):
        """Values without ties (max/argmax/pooling): a shuffled spread plus a little noise."""
        n = 1
        for s in shape:
            n *= s
        perm = torch.randperm(n, generator=self.gen).to(D)
        return ((perm - n / 2) * 0.37 + 0.05 * torch.rand(n, generator=self.gen, dtype=D)).reshape(shape)

    def bool(self, *shape, p=0.5):
        return torch.rand(_shape(shape), generator=self.gen, dtype=D) < p

    # ---- one case ------------------------------------------------------------------------------
    def case(self, name, op, inputs, fn, attrs=None, nograd=(), layouts=None, tol=None, note=None):
        """`inputs`: list of (key, tensor | None) in the op's input order; `fn(*tensors)` returns
        the op's outputs (a tensor or a tuple) as the Rust side compares them."""
        assert all(c["name"] != name for c in self.cases), name
        layouts = layouts or {}
        keys, leaves, args = [], [], []
        for key, t in inputs:
            if t is None:
                keys.append(None)
                leaves.append(None)
                args.append(None)
                continue
            t = t.detach().clone()
            self.tensors[f"{name}/in/{key}"] = t.contiguous()
            if t.is_floating_point() and key not in nograd:
                t.requires_grad_(True)
            keys.append(key)
            leaves.append(t)
            a = t
            if layouts.get(key) == "transposed":
                assert t.dim() >= 2
                a = t.transpose(-2, -1).contiguous().transpose(-2, -1)
                assert not a.is_contiguous() or a.shape[-1] == 1 or a.shape[-2] == 1
            args.append(a)
        outs = fn(*args)
        if not isinstance(outs, tuple):
            outs = (outs,)
        loss = None
        weights = []
        for i, o in enumerate(outs):
            assert not (o.is_floating_point() and torch.isnan(o).any()) or "nan_ok" in (note or ""), (name, o)
            self.tensors[f"{name}/out/{i}"] = o.detach().clone().contiguous()
            if o.is_floating_point() and o.requires_grad:
                w = self.randn(*o.shape)
                self.tensors[f"{name}/w/{i}"] = w
                weights.append(i)
                term = (o * w).sum()
                loss = term if loss is None else loss + term
        grads = []
        if loss is not None:
            loss.backward()
            for key, leaf in zip(keys, leaves):
                if leaf is not None and leaf.requires_grad:
                    g = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                    self.tensors[f"{name}/grad/{key}"] = g.detach().clone().contiguous()
                    grads.append(key)
        c = {"name": name, "op": op, "inputs": keys, "attrs": attrs or {}, "outputs": len(outs), "weights": weights, "grads": grads}
        if layouts:
            c["layouts"] = layouts
        if tol:
            c["tol"] = tol
        if note:
            c["note"] = note
        self.cases.append(c)

    def save(self):
        path = os.path.join(HERE, f"{self.name}.safetensors")
        # One metadata key: safetensors writes the metadata map in hash order, and a single key
        # keeps the files byte-identical from run to run.
        meta = {"generator": "tests/golden/generate.py", "torch": torch.__version__, "cases": self.cases}
        save_file(self.tensors, path, metadata={"golden": json.dumps(meta)})
        os.chmod(path, 0o644)
        print(f"{path}: {len(self.cases)} cases, {os.path.getsize(path)} bytes")


# ------------------------------------------------------------------------------------------------
# Elementwise
# ------------------------------------------------------------------------------------------------


def elementwise():
    f = Family("elementwise", 1)
    unary = {
        "neg": (torch.neg, None),
        "exp": (torch.exp, None),
        "log": (torch.log, "pos"),
        "sqrt": (torch.sqrt, "pos"),
        "abs": (torch.abs, None),
        "relu": (torch.relu, None),
        "tanh": (torch.tanh, None),
        "sigmoid": (torch.sigmoid, None),
    }
    for nm, (fn, dom) in unary.items():
        op = f"ferrite::{nm}"
        mk = (lambda *s: f.unif(0.1, 3.0, *s)) if dom == "pos" else (lambda *s: f.randn(*s, scale=2.0))
        f.case(f"{nm}_3x5", op, [("x", mk(3, 5))], fn)
        f.case(f"{nm}_t", op, [("x", mk(2, 4, 3))], fn, layouts={"x": "transposed"})
        f.case(f"{nm}_scalar", op, [("x", mk())], fn)
        f.case(f"{nm}_empty", op, [("x", mk(0, 3))], fn)
    # Kinks and edges: PyTorch's conventions at the kink (relu'(0) = 0, abs'(0) = 0) and at 0
    # for log (-inf, gradient inf) and sqrt (0, gradient inf).
    z = torch.tensor([0.0, -0.0, 1.5, -2.0], dtype=D)
    f.case("relu_zero", "ferrite::relu", [("x", z)], torch.relu)
    f.case("abs_zero", "ferrite::abs", [("x", z)], torch.abs)
    f.case("log_zero", "ferrite::log", [("x", torch.tensor([0.0, 1.0, 2.5], dtype=D))], torch.log)
    f.case("sqrt_zero", "ferrite::sqrt", [("x", torch.tensor([0.0, 1.0, 2.5], dtype=D))], torch.sqrt)
    f.case("exp_large", "ferrite::exp", [("x", torch.tensor([-800.0, -30.0, 30.0, 700.0], dtype=D))], torch.exp)
    f.case("tanh_large", "ferrite::tanh", [("x", torch.tensor([-40.0, -1e-8, 1e-8, 40.0], dtype=D))], torch.tanh)
    f.case("sigmoid_large", "ferrite::sigmoid", [("x", torch.tensor([-800.0, -40.0, 0.0, 40.0, 800.0], dtype=D))], torch.sigmoid)
    for approx in ["none", "tanh"]:
        g = lambda x, a=approx: F.gelu(x, approximate=a)
        f.case(f"gelu_{approx}", "ferrite::gelu", [("x", f.randn(3, 7, scale=2.5))], g, attrs={"approximate": approx})
        f.case(f"gelu_{approx}_t", "ferrite::gelu", [("x", f.randn(4, 3))], g, attrs={"approximate": approx}, layouts={"x": "transposed"})
        f.case(f"gelu_{approx}_edge", "ferrite::gelu", [("x", torch.tensor([-30.0, -6.0, 0.0, 1e-9, 6.0, 30.0], dtype=D))], g, attrs={"approximate": approx})
    # dropout: deterministic forms only (training=false, or p=0 in training).
    f.case("dropout_eval", "ferrite::dropout", [("x", f.randn(3, 4))], lambda x: F.dropout(x, p=0.5, training=False), attrs={"p": 0.5, "training": False})
    f.case("dropout_p0", "ferrite::dropout", [("x", f.randn(2, 5))], lambda x: F.dropout(x, p=0.0, training=True), attrs={"p": 0.0, "training": True})
    f.save()


def binary():
    f = Family("binary", 2)
    ops = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow}
    shapes = [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 3)), ((4, 1), ()), ((2, 3, 1, 5), (1, 1, 4, 1)), ((0, 3), (1, 3))]
    for nm, fn in ops.items():
        op = f"ferrite::{nm}"
        for si, (sa, sb) in enumerate(shapes):
            if nm == "pow":
                a, b = f.unif(0.2, 2.5, *sa), f.unif(-2.0, 2.0, *sb)
            elif nm == "div":
                a, b = f.randn(*sa), f.unif(0.5, 2.0, *sb) * torch.where(f.bool(*sb), 1.0, -1.0).to(D)
            else:
                a, b = f.randn(*sa), f.randn(*sb)
            f.case(f"{nm}_{si}", op, [("a", a), ("b", b)], fn)
        a = f.unif(0.2, 2.5, 3, 4) if nm == "pow" else f.randn(3, 4)
        b = f.unif(0.5, 2.0, 3, 4)
        f.case(f"{nm}_t", op, [("a", a), ("b", b)], fn, layouts={"a": "transposed", "b": "transposed"})
    # pow edge cases: base 0 with positive exponents (d/d exponent masked to 0 by PyTorch),
    # integer exponents of negative bases (d/d exponent is NaN there in PyTorch: log of a negative).
    f.case("pow_zero_base", "ferrite::pow", [("a", torch.tensor([0.0, 0.0, 0.0, 2.0], dtype=D)), ("b", torch.tensor([2.0, 3.0, 1.0, 0.0], dtype=D))], torch.pow)
    f.case("pow_neg_base_int_exp", "ferrite::pow", [("a", torch.tensor([-1.5, -2.0, 3.0], dtype=D)), ("b", torch.tensor([2.0, 3.0, -1.0], dtype=D))], torch.pow, nograd=("b",))
    for nm in ["eq", "ne", "lt", "le", "gt", "ge"]:
        fn = getattr(torch, nm)
        op = f"ferrite::{nm}"
        a = torch.round(f.randn(3, 4) * 2) / 2
        b = torch.round(f.randn(4) * 2) / 2
        f.case(f"{nm}_bcast", op, [("a", a), ("b", b)], fn)
        a = torch.round(f.randn(2, 3, 1)) 
        b = torch.round(f.randn(1, 4))
        f.case(f"{nm}_bcast2", op, [("a", a), ("b", b)], fn)
        inf = float("inf")
        f.case(f"{nm}_inf", op, [("a", torch.tensor([-inf, inf, 0.0, -0.0, 1.0], dtype=D)), ("b", torch.tensor([-inf, 1.0, -0.0, 0.0, inf], dtype=D))], fn)
        f.case(f"{nm}_t", op, [("a", torch.round(f.randn(3, 2))), ("b", torch.round(f.randn(2, 3)).t().contiguous())], fn, layouts={"a": "transposed"})
        f.case(f"{nm}_empty", op, [("a", f.randn(0, 2)), ("b", f.randn(2))], fn)
    wh = lambda c, x, y: torch.where(c, x, y)
    f.case("where_same", "ferrite::where", [("cond", f.bool(3, 4)), ("x", f.randn(3, 4)), ("y", f.randn(3, 4))], wh)
    f.case("where_bcast", "ferrite::where", [("cond", f.bool(3, 1)), ("x", f.randn(1, 4)), ("y", f.randn(2, 3, 4))], wh)
    f.case("where_bcast2", "ferrite::where", [("cond", f.bool(2, 3, 4)), ("x", f.randn(4)), ("y", f.randn(()))], wh)
    f.case("where_t", "ferrite::where", [("cond", f.bool(4, 3)), ("x", f.randn(4, 3)), ("y", f.randn(3))], wh, layouts={"x": "transposed"})
    f.save()


# ------------------------------------------------------------------------------------------------
# Reductions and softmax
# ------------------------------------------------------------------------------------------------


def reduce():
    f = Family("reduce", 3)
    for nm, fn in [("sum", torch.sum), ("mean", torch.mean), ("logsumexp", torch.logsumexp)]:
        op = f"ferrite::{nm}"
        for ci, (shape, dims, keep) in enumerate(
            [((3, 4), [], False), ((3, 4), [1], False), ((2, 3, 4), [0, 2], True), ((2, 3, 4), [-1], False), ((5,), [0], True), ((2, 1, 3), [1], False), ((1, 1), [], True)]
        ):
            x = f.randn(*shape, scale=2.0)
            if nm == "logsumexp" and not dims:
                call = lambda x, k=keep, s=shape: torch.logsumexp(x, dim=list(range(len(s))), keepdim=k)
            else:
                call = (lambda x, d=dims, k=keep: fn(x, dim=d, keepdim=k)) if dims else (lambda x, k=keep: fn(x, dim=list(range(x.dim())), keepdim=k))
            f.case(f"{nm}_{ci}", op, [("x", x)], call, attrs={"dim": dims, "keepdim": keep})
        call = lambda x: fn(x, dim=[0], keepdim=False)
        f.case(f"{nm}_t", op, [("x", f.randn(3, 5))], call, attrs={"dim": [0], "keepdim": False}, layouts={"x": "transposed"})
    # 0-size: sum over an empty dim is 0; mean over it is NaN (0/0) in PyTorch.
    f.case("sum_empty_dim", "ferrite::sum", [("x", f.randn(2, 0, 3))], lambda x: torch.sum(x, dim=[1]), attrs={"dim": [1], "keepdim": False})
    f.case("sum_empty_keep", "ferrite::sum", [("x", f.randn(0, 3))], lambda x: torch.sum(x, dim=[1], keepdim=True), attrs={"dim": [1], "keepdim": True})
    f.case("mean_empty_dim", "ferrite::mean", [("x", f.randn(2, 0))], lambda x: torch.mean(x, dim=[1]), attrs={"dim": [1], "keepdim": False}, note="nan_ok: mean over an empty dim is NaN (0/0), as PyTorch")
    inf = float("inf")

    def lse_ferrite(x, dim):
        # Ferrite's documented convention (functional::logsumexp, field case C04): an all -inf
        # slice gives -inf with ZERO gradient; PyTorch's gradient there is NaN (exp(-inf - -inf)).
        # Same forward as torch.logsumexp; those slices are computed on zeros and replaced.
        dead = (x == -inf).all(dim=dim, keepdim=True)
        out = torch.logsumexp(x.masked_fill(dead, 0.0), dim=dim)
        return torch.where(dead.squeeze(dim), torch.full_like(out, -inf), out)

    f.case("logsumexp_neg_inf", "ferrite::logsumexp", [("x", torch.tensor([[-inf, -inf, -inf], [-inf, 0.0, 1.0], [700.0, 710.0, -inf]], dtype=D))],
           lambda x: lse_ferrite(x, 1), attrs={"dim": [1], "keepdim": False},
           note="an all -inf row gives -inf with zero gradient (Ferrite's convention; PyTorch's gradient is NaN there)")
    for nm in ["max", "min"]:
        op = f"ferrite::{nm}"
        fn = getattr(torch, nm)
        for ci, (shape, dim, keep) in enumerate([((3, 5), 1, False), ((3, 5), 0, True), ((2, 3, 4), -2, False), ((4,), 0, False), ((2, 1, 3), 1, True)]):
            call = lambda x, d=dim, k=keep: tuple(fn(x, dim=d, keepdim=k))
            f.case(f"{nm}_{ci}", op, [("x", f.distinct(*shape))], call, attrs={"dim": dim, "keepdim": keep})
        f.case(f"{nm}_t", op, [("x", f.distinct(4, 3))], lambda x: tuple(fn(x, dim=1)), attrs={"dim": 1, "keepdim": False}, layouts={"x": "transposed"})
    for ci, (shape, dim, keep) in enumerate([((3, 5), 1, False), ((3, 5), 0, True), ((2, 3, 4), -1, False), ((1,), 0, False)]):
        f.case(f"argmax_{ci}", "ferrite::argmax", [("x", f.distinct(*shape))], lambda x, d=dim, k=keep: torch.argmax(x, dim=d, keepdim=k), attrs={"dim": dim, "keepdim": keep})
    f.case("argmax_t", "ferrite::argmax", [("x", f.distinct(3, 4))], lambda x: torch.argmax(x, dim=0), attrs={"dim": 0, "keepdim": False}, layouts={"x": "transposed"})
    for nm, fn in [("softmax", F.softmax), ("log_softmax", F.log_softmax)]:
        op = f"ferrite::{nm}"
        for ci, (shape, dim) in enumerate([((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -2), ((7,), 0), ((2, 1), 1), ((0, 4), 1)]):
            f.case(f"{nm}_{ci}", op, [("x", f.randn(*shape, scale=3.0))], lambda x, d=dim: fn(x, dim=d), attrs={"dim": dim})
        f.case(f"{nm}_t", op, [("x", f.randn(4, 3))], lambda x: fn(x, dim=-1), attrs={"dim": -1}, layouts={"x": "transposed"})
        f.case(f"{nm}_large", op, [("x", torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0]], dtype=D))], lambda x: fn(x, dim=1), attrs={"dim": 1})
    f.save()


# ------------------------------------------------------------------------------------------------
# Matrix products
# ------------------------------------------------------------------------------------------------


def matmul():
    f = Family("matmul", 4)
    for ci, (sa, sb) in enumerate(
        [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((5,), (2, 5, 3)), ((2, 3, 4), (4,)), ((1, 1), (1, 1)), ((2, 0), (0, 3)), ((0, 3), (3, 2))]
    ):
        f.case(f"matmul_{ci}", "ferrite::matmul", [("a", f.randn(*sa)), ("b", f.randn(*sb))], torch.matmul)
    f.case("matmul_t", "ferrite::matmul", [("a", f.randn(2, 3, 4)), ("b", f.randn(4, 5))], torch.matmul, layouts={"a": "transposed", "b": "transposed"})
    for ci, (sa, sb) in enumerate([((2, 3, 4), (2, 4, 5)), ((1, 1, 3), (1, 3, 1)), ((3, 2, 2), (3, 2, 0))]):
        f.case(f"bmm_{ci}", "ferrite::bmm", [("a", f.randn(*sa)), ("b", f.randn(*sb))], torch.bmm)
    f.case("bmm_t", "ferrite::bmm", [("a", f.randn(2, 3, 4)), ("b", f.randn(2, 4, 5))], torch.bmm, layouts={"a": "transposed", "b": "transposed"})
    for ci, (sx, o, bias) in enumerate([((3, 4), 5, True), ((4,), 2, True), ((2, 3, 4), 3, False), ((1, 1), 1, True), ((0, 3), 2, True)]):
        i = sx[-1]
        f.case(f"linear_{ci}", "ferrite::linear", [("x", f.randn(*sx)), ("w", f.randn(o, i)), ("b", f.randn(o) if bias else None)],
               lambda x, w, b: F.linear(x, w, b))
    f.case("linear_t", "ferrite::linear", [("x", f.randn(3, 4)), ("w", f.randn(5, 4)), ("b", f.randn(5))], lambda x, w, b: F.linear(x, w, b), layouts={"x": "transposed", "w": "transposed"})
    f.save()


# ------------------------------------------------------------------------------------------------
# Convolution, pooling, upsampling
# ------------------------------------------------------------------------------------------------


def conv():
    f = Family("conv", 5)
    cases = [
        # (x shape, out channels, kernel, stride, padding, dilation, groups, bias)
        ((1, 1, 5, 5), 1, (3, 3), (1, 1), (0, 0), (1, 1), 1, True),
        ((2, 3, 6, 7), 4, (3, 2), (2, 1), (1, 0), (1, 1), 1, True),
        ((1, 4, 7, 6), 6, (3, 3), (1, 2), (2, 1), (2, 1), 2, False),
        ((2, 4, 5, 5), 4, (2, 3), (1, 1), (1, 1), (1, 2), 4, True),
        ((1, 2, 4, 4), 3, (1, 1), (3, 3), (0, 0), (1, 1), 1, True),
        ((1, 2, 3, 3), 2, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ((3, 1, 1, 1), 2, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
        ((2, 3, 8, 5), 3, (3, 3), (2, 2), (2, 2), (3, 1), 3, True),
    ]
    for ci, (xs, o, k, s, p, d, g, bias) in enumerate(cases):
        x, w = f.randn(*xs), f.randn(o, xs[1] // g, *k)
        b = f.randn(o) if bias else None
        f.case(f"conv2d_{ci}", "ferrite::conv2d", [("x", x), ("w", w), ("b", b)],
               lambda x, w, b, s=s, p=p, d=d, g=g: F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g),
               attrs={"stride": list(s), "padding": list(p), "dilation": list(d), "groups": g})
    f.case("conv2d_t", "ferrite::conv2d", [("x", f.randn(1, 2, 4, 5)), ("w", f.randn(3, 2, 2, 2)), ("b", f.randn(3))],
           lambda x, w, b: F.conv2d(x, w, b, padding=1), attrs={"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1}, layouts={"x": "transposed", "w": "transposed"})
    f.case("conv2d_empty_batch", "ferrite::conv2d", [("x", f.randn(0, 2, 4, 4)), ("w", f.randn(3, 2, 3, 3)), ("b", f.randn(3))],
           lambda x, w, b: F.conv2d(x, w, b), attrs={"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1})
    f.save()


def pool():
    f = Family("pool", 6)
    mp = [
        # (x shape, kernel, stride (None = kernel), padding, dilation, ceil_mode)
        ((1, 1, 5, 5), (2, 2), None, (0, 0), (1, 1), False),
        ((2, 3, 6, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),
        ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),
        ((1, 2, 7, 6), (3, 2), (2, 1), (1, 1), (2, 1), False),
        ((1, 1, 6, 6), (3, 3), (2, 2), (1, 1), (2, 2), True),
        ((2, 1, 4, 5), (2, 3), (3, 2), (1, 1), (1, 1), True),
        ((1, 3, 1, 1), (1, 1), None, (0, 0), (1, 1), False),
        ((1, 1, 9, 1), (3, 1), (2, 1), (1, 0), (1, 1), True),
    ]
    for ci, (xs, k, s, p, d, cm) in enumerate(mp):
        f.case(f"max_pool2d_{ci}", "ferrite::max_pool2d", [("x", f.distinct(*xs))],
               lambda x, k=k, s=s, p=p, d=d, cm=cm: tuple(F.max_pool2d(x, k, stride=s, padding=p, dilation=d, ceil_mode=cm, return_indices=True)),
               attrs={"kernel_size": list(k), "stride": list(s) if s else None, "padding": list(p), "dilation": list(d), "ceil_mode": cm})
    f.case("max_pool2d_t", "ferrite::max_pool2d", [("x", f.distinct(1, 2, 4, 6))],
           lambda x: tuple(F.max_pool2d(x, 2, return_indices=True)), attrs={"kernel_size": [2, 2], "stride": None, "padding": [0, 0], "dilation": [1, 1], "ceil_mode": False}, layouts={"x": "transposed"})
    ap = [
        # (x shape, kernel, stride, padding, ceil_mode, count_include_pad)
        ((1, 1, 5, 5), (2, 2), None, (0, 0), False, True),
        ((2, 2, 6, 7), (3, 3), (2, 2), (1, 1), False, True),
        ((2, 2, 6, 7), (3, 3), (2, 2), (1, 1), False, False),
        ((1, 2, 5, 5), (2, 2), (2, 2), (0, 0), True, True),
        ((1, 2, 5, 6), (3, 3), (2, 2), (1, 1), True, True),
        ((1, 2, 5, 6), (3, 3), (2, 2), (1, 1), True, False),
        ((1, 1, 4, 4), (3, 2), (2, 3), (1, 1), True, True),
        ((1, 1, 7, 3), (4, 3), (3, 1), (2, 1), True, False),
        ((1, 3, 1, 1), (1, 1), None, (0, 0), False, True),
    ]
    for ci, (xs, k, s, p, cm, cip) in enumerate(ap):
        f.case(f"avg_pool2d_{ci}", "ferrite::avg_pool2d", [("x", f.randn(*xs))],
               lambda x, k=k, s=s, p=p, cm=cm, cip=cip: F.avg_pool2d(x, k, stride=s, padding=p, ceil_mode=cm, count_include_pad=cip),
               attrs={"kernel_size": list(k), "stride": list(s) if s else None, "padding": list(p), "ceil_mode": cm, "count_include_pad": cip})
    f.case("avg_pool2d_t", "ferrite::avg_pool2d", [("x", f.randn(2, 1, 5, 4))], lambda x: F.avg_pool2d(x, 2, padding=1, count_include_pad=False),
           attrs={"kernel_size": [2, 2], "stride": None, "padding": [1, 1], "ceil_mode": False, "count_include_pad": False}, layouts={"x": "transposed"})
    for ci, (xs, os_) in enumerate([((1, 1, 5, 5), (3, 3)), ((2, 3, 6, 4), (2, 2)), ((1, 1, 2, 2), (4, 4)), ((1, 2, 7, 5), (3, 4)), ((1, 1, 3, 3), (1, 1)), ((1, 1, 1, 1), (2, 3)), ((2, 1, 5, 3), (5, 3))]):
        f.case(f"adaptive_max_pool2d_{ci}", "ferrite::adaptive_max_pool2d", [("x", f.distinct(*xs))],
               lambda x, o=os_: tuple(F.adaptive_max_pool2d(x, o, return_indices=True)), attrs={"output_size": list(os_)})
        f.case(f"adaptive_avg_pool2d_{ci}", "ferrite::adaptive_avg_pool2d", [("x", f.randn(*xs))],
               lambda x, o=os_: F.adaptive_avg_pool2d(x, o), attrs={"output_size": list(os_)})
    f.case("adaptive_max_pool2d_t", "ferrite::adaptive_max_pool2d", [("x", f.distinct(1, 2, 3, 5))], lambda x: tuple(F.adaptive_max_pool2d(x, (2, 2), return_indices=True)), attrs={"output_size": [2, 2]}, layouts={"x": "transposed"})
    f.case("adaptive_avg_pool2d_t", "ferrite::adaptive_avg_pool2d", [("x", f.randn(1, 2, 3, 5))], lambda x: F.adaptive_avg_pool2d(x, (2, 2)), attrs={"output_size": [2, 2]}, layouts={"x": "transposed"})

    def spp(x, levels, mode):
        n = x.shape[0]
        pool_fn = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
        return torch.cat([pool_fn(x, (l, l)).reshape(n, -1) for l in levels], dim=1)

    for ci, (xs, levels, mode) in enumerate([((2, 3, 8, 8), [1, 2, 4], "max"), ((1, 2, 3, 3), [1, 2, 4], "max"), ((2, 2, 5, 7), [1, 3], "avg"), ((1, 1, 1, 1), [1, 2], "max"), ((1, 2, 6, 5), [2, 1, 4], "avg")]):
        x = f.distinct(*xs) if mode == "max" else f.randn(*xs)
        f.case(f"spatial_pyramid_pool_{ci}", "ferrite::spatial_pyramid_pool", [("x", x)], lambda x, l=levels, m=mode: spp(x, l, m), attrs={"levels": levels, "mode": mode})
    f.case("spatial_pyramid_pool_t", "ferrite::spatial_pyramid_pool", [("x", f.distinct(1, 2, 4, 6))], lambda x: spp(x, [1, 2], "max"), attrs={"levels": [1, 2], "mode": "max"}, layouts={"x": "transposed"})
    for ci, (xs, os_) in enumerate([((1, 1, 2, 3), (4, 6)), ((2, 2, 3, 3), (5, 7)), ((1, 1, 4, 4), (2, 3)), ((1, 2, 3, 5), (3, 5)), ((1, 1, 1, 1), (3, 2))]):
        f.case(f"upsample_nearest2d_{ci}", "ferrite::upsample_nearest2d", [("x", f.randn(*xs))], lambda x, o=os_: F.interpolate(x, size=o, mode="nearest"), attrs={"output_size": list(os_)})
    f.case("upsample_nearest2d_t", "ferrite::upsample_nearest2d", [("x", f.randn(1, 1, 3, 2))], lambda x: F.interpolate(x, size=(5, 5), mode="nearest"), attrs={"output_size": [5, 5]}, layouts={"x": "transposed"})
    f.save()


# ------------------------------------------------------------------------------------------------
# Normalisation, embedding, losses
# ------------------------------------------------------------------------------------------------


def norm():
    f = Family("norm", 7)
    for ci, (xs, ns, affine, eps) in enumerate([((3, 5), (5,), True, 1e-5), ((2, 3, 4), (3, 4), True, 1e-5), ((2, 3, 4), (4,), False, 1e-3), ((4, 1), (1,), True, 1e-5), ((1, 7), (7,), True, 0.1)]):
        w = f.randn(*ns) if affine else None
        b = f.randn(*ns) if affine else None
        f.case(f"layer_norm_{ci}", "ferrite::layer_norm", [("x", f.randn(*xs, scale=2.0) + 1.0), ("w", w), ("b", b)],
               lambda x, w, b, ns=ns, eps=eps: F.layer_norm(x, ns, w, b, eps), attrs={"normalized_shape": list(ns), "eps": eps})
    f.case("layer_norm_t", "ferrite::layer_norm", [("x", f.randn(4, 3)), ("w", f.randn(3)), ("b", f.randn(3))], lambda x, w, b: F.layer_norm(x, (3,), w, b, 1e-5),
           attrs={"normalized_shape": [3], "eps": 1e-5}, layouts={"x": "transposed"})

    def bn(training, momentum, eps):
        def run(x, w, b, rm, rv):
            rm2 = rm.clone() if rm is not None else None
            rv2 = rv.clone() if rv is not None else None
            out = F.batch_norm(x, rm2, rv2, w, b, training=training, momentum=momentum, eps=eps)
            if rm2 is None:
                return out
            return out, rm2, rv2
        return run

    for ci, (xs, training, affine, stats, mom, eps) in enumerate(
        [((4, 3), True, True, True, 0.1, 1e-5), ((2, 3, 4, 5), True, True, True, 0.3, 1e-5), ((3, 2, 5), True, False, True, 0.1, 1e-3),
         ((2, 3, 2, 2), True, True, False, 0.1, 1e-5), ((4, 3), False, True, True, 0.1, 1e-5), ((2, 3, 4, 5), False, False, True, 0.1, 1e-5), ((2, 1, 3), True, True, True, 1.0, 1e-5)]
    ):
        c = xs[1]
        ins = [("x", f.randn(*xs, scale=1.5) + 0.5), ("w", f.randn(c) if affine else None), ("b", f.randn(c) if affine else None),
               ("running_mean", f.randn(c) if stats else None), ("running_var", f.unif(0.5, 2.0, c) if stats else None)]
        f.case(f"batch_norm_{ci}", "ferrite::batch_norm", ins, bn(training, mom, eps), attrs={"training": training, "momentum": mom, "eps": eps}, nograd=("running_mean", "running_var"))
    f.case("batch_norm_t", "ferrite::batch_norm", [("x", f.randn(5, 3)), ("w", f.randn(3)), ("b", f.randn(3)), ("running_mean", f.randn(3)), ("running_var", f.unif(0.5, 2.0, 3))],
           bn(True, 0.1, 1e-5), attrs={"training": True, "momentum": 0.1, "eps": 1e-5}, nograd=("running_mean", "running_var"), layouts={"x": "transposed"})
    f.save()


def embedding_losses():
    f = Family("loss", 8)
    emb = lambda pad: (lambda i, w: F.embedding(i, w, padding_idx=pad))
    f.case("embedding_0", "ferrite::embedding", [("idx", f.randint(0, 6, 4)), ("w", f.randn(6, 3))], emb(None), attrs={"padding_idx": None})
    f.case("embedding_pad", "ferrite::embedding", [("idx", torch.tensor([[0, 2, 2], [5, 0, 1]])), ("w", f.randn(6, 4))], emb(2), attrs={"padding_idx": 2},
           note="rows equal to padding_idx get no gradient; the lookup still returns the row (PyTorch)")
    f.case("embedding_pad0_repeat", "ferrite::embedding", [("idx", torch.tensor([[1, 1, 0, 1]])), ("w", f.randn(3, 2))], emb(0), attrs={"padding_idx": 0})
    f.case("embedding_scalar_idx", "ferrite::embedding", [("idx", torch.tensor(3)), ("w", f.randn(4, 5))], emb(None), attrs={"padding_idx": None})
    f.case("embedding_empty", "ferrite::embedding", [("idx", torch.zeros(0, dtype=torch.int64)), ("w", f.randn(4, 2))], emb(None), attrs={"padding_idx": None})
    f.case("embedding_t", "ferrite::embedding", [("idx", f.randint(0, 5, 3)), ("w", f.randn(5, 4))], emb(None), attrs={"padding_idx": None}, layouts={"w": "transposed"})

    def ce(ii, ls, red):
        return lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=ii, label_smoothing=ls, reduction=red)

    ce_cases = [
        # (N, C, weights, ignore_index, target override, label_smoothing)
        (4, 5, False, -100, None, 0.0),
        (4, 5, True, -100, None, 0.0),
        (5, 3, True, 1, [1, 0, 2, 1, 2], 0.0),
        (5, 4, False, -1, [3, -1, 0, -1, 2], 0.0),
        (4, 5, False, -100, None, 0.1),
        (6, 4, True, 2, [2, 0, 1, 3, 2, 0], 0.25),
        (1, 1, False, -100, [0], 0.0),
        (3, 2, True, -100, None, 1.0),
    ]
    for ci, (n, c, wt, ii, tgt, ls) in enumerate(ce_cases):
        x = f.randn(n, c, scale=2.0)
        t = torch.tensor(tgt) if tgt is not None else f.randint(0, c, n)
        w = f.unif(0.2, 2.0, c) if wt else None
        for red in ["none", "mean", "sum"]:
            f.case(f"cross_entropy_{ci}_{red}", "ferrite::cross_entropy", [("x", x), ("t", t), ("w", w)], ce(ii, ls, red),
                   attrs={"ignore_index": ii, "label_smoothing": ls, "reduction": red}, nograd=("w",))
    f.case("cross_entropy_t", "ferrite::cross_entropy", [("x", f.randn(3, 4)), ("t", torch.tensor([1, 3, 0])), ("w", None)], ce(-100, 0.1, "mean"),
           attrs={"ignore_index": -100, "label_smoothing": 0.1, "reduction": "mean"}, layouts={"x": "transposed"})
    f.case("cross_entropy_all_ignored_mean", "ferrite::cross_entropy", [("x", f.randn(2, 3)), ("t", torch.tensor([1, 1])), ("w", None)], ce(1, 0.0, "mean"),
           attrs={"ignore_index": 1, "label_smoothing": 0.0, "reduction": "mean"}, note="nan_ok: every sample ignored: mean is 0/0 = NaN, as PyTorch")
    f.case("cross_entropy_all_ignored_sum", "ferrite::cross_entropy", [("x", f.randn(2, 3)), ("t", torch.tensor([-100, -100])), ("w", None)], ce(-100, 0.0, "sum"),
           attrs={"ignore_index": -100, "label_smoothing": 0.0, "reduction": "sum"})

    def nll(ii, red):
        return lambda x, t, w: F.nll_loss(x, t, weight=w, ignore_index=ii, reduction=red)

    for ci, (n, c, wt, ii, tgt) in enumerate([(4, 5, False, -100, None), (5, 3, True, 1, [1, 0, 2, 1, 2]), (3, 4, True, -100, None), (1, 1, False, -100, [0])]):
        x = F.log_softmax(f.randn(n, c), dim=1)
        t = torch.tensor(tgt) if tgt is not None else f.randint(0, c, n)
        w = f.unif(0.2, 2.0, c) if wt else None
        for red in ["none", "mean", "sum"]:
            f.case(f"nll_loss_{ci}_{red}", "ferrite::nll_loss", [("x", x), ("t", t), ("w", w)], nll(ii, red), attrs={"ignore_index": ii, "reduction": red}, nograd=("w",))
    f.case("nll_loss_t", "ferrite::nll_loss", [("x", f.randn(3, 4)), ("t", torch.tensor([1, 3, 0])), ("w", None)], nll(-100, "mean"), attrs={"ignore_index": -100, "reduction": "mean"}, layouts={"x": "transposed"})
    for ci, xs in enumerate([(3, 4), (2, 3, 2), (), (1,)]):
        for red in ["none", "mean", "sum"]:
            f.case(f"mse_loss_{ci}_{red}", "ferrite::mse_loss", [("x", f.randn(*xs)), ("y", f.randn(*xs))], lambda x, y, r=red: F.mse_loss(x, y, reduction=r), attrs={"reduction": red})
    f.case("mse_loss_t", "ferrite::mse_loss", [("x", f.randn(3, 4)), ("y", f.randn(3, 4))], lambda x, y: F.mse_loss(x, y), attrs={"reduction": "mean"}, layouts={"x": "transposed", "y": "transposed"})
    f.save()


# ------------------------------------------------------------------------------------------------
# Shape ops and indexing
# ------------------------------------------------------------------------------------------------


def shape_index():
    f = Family("shape", 9)
    for ci, (shapes, dim) in enumerate([([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1), ([(2, 3, 4), (2, 1, 4)], -2), ([(3,)], 0), ([(2, 0), (2, 3)], 1), ([(0, 3), (2, 3), (1, 3)], 0)]):
        ins = [(f"x{i}", f.randn(*s)) for i, s in enumerate(shapes)]
        f.case(f"cat_{ci}", "ferrite::cat", ins, lambda *xs, d=dim: torch.cat(xs, dim=d), attrs={"dim": dim})
    f.case("cat_t", "ferrite::cat", [("x0", f.randn(3, 2)), ("x1", f.randn(3, 2))], lambda *xs: torch.cat(xs, dim=1), attrs={"dim": 1}, layouts={"x0": "transposed"})
    f.case("cat_same_tensor_twice", "ferrite::cat", [("x0", f.randn(2, 2))], lambda x: torch.cat([x, x], dim=0), attrs={"dim": 0, "repeat": 2},
           note="the same leaf passed twice: gradients accumulate")
    for ci, (shape, n, dim) in enumerate([((2, 3), 2, 0), ((2, 3), 3, 2), ((2, 3), 2, -1), ((), 3, 0), ((4,), 1, 1), ((0, 2), 2, 1)]):
        ins = [(f"x{i}", f.randn(*shape)) for i in range(n)]
        f.case(f"stack_{ci}", "ferrite::stack", ins, lambda *xs, d=dim: torch.stack(xs, dim=d), attrs={"dim": dim})
    f.case("stack_t", "ferrite::stack", [("x0", f.randn(3, 2)), ("x1", f.randn(3, 2))], lambda *xs: torch.stack(xs, dim=1), attrs={"dim": 1}, layouts={"x1": "transposed"})
    for ci, (shape, dim, idx) in enumerate([((4, 3), 0, [3, 0, 0, 2]), ((2, 5, 3), 1, [4, 1]), ((3, 4), -1, [0]), ((5,), 0, [4, 4, 1]), ((3, 2), 0, [])]):
        f.case(f"index_select_{ci}", "ferrite::index_select", [("x", f.randn(*shape)), ("idx", torch.tensor(idx, dtype=torch.int64))],
               lambda x, i, d=dim: torch.index_select(x, d, i), attrs={"dim": dim})
    f.case("index_select_t", "ferrite::index_select", [("x", f.randn(3, 4)), ("idx", torch.tensor([2, 0, 2]))], lambda x, i: torch.index_select(x, 1, i), attrs={"dim": 1}, layouts={"x": "transposed"})
    for ci, (shape, dim, ishape) in enumerate([((3, 4), 0, (2, 4)), ((3, 4), 1, (3, 6)), ((2, 3, 4), -1, (2, 2, 3)), ((2, 3, 4), 1, (1, 5, 2)), ((4,), 0, (7,)), ((3, 2), 1, (3, 0))]):
        idx = f.randint(0, shape[dim], *ishape)
        f.case(f"gather_{ci}", "ferrite::gather", [("x", f.randn(*shape)), ("idx", idx)], lambda x, i, d=dim: torch.gather(x, d, i), attrs={"dim": dim})
    f.case("gather_t", "ferrite::gather", [("x", f.randn(4, 3)), ("idx", f.randint(0, 4, 2, 3))], lambda x, i: torch.gather(x, 0, i), attrs={"dim": 0}, layouts={"x": "transposed"})
    f.save()


# ------------------------------------------------------------------------------------------------
# Attention
# ------------------------------------------------------------------------------------------------


def attention():
    f = Family("attention", 10)

    def sdpa(causal, scale):
        def run(q, k, v, m):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, scale=scale)
            if torch.isnan(out).any():
                # Ferrite's convention for fully masked rows (see the module docstring).
                L, S = q.shape[-2], k.shape[-2]
                allowed = torch.ones(L, S, dtype=torch.bool)
                if causal:
                    allowed = allowed.tril()
                if m is not None:
                    allowed = allowed & (m if m.dtype == torch.bool else m != float("-inf"))
                row_ok = allowed.any(-1, keepdim=True)
                m2 = torch.where(row_ok, allowed, True)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=m2 if m is None or m.dtype == torch.bool else torch.where(row_ok, m, 0.0), scale=scale) * row_ok
            return out
        return run

    cases = [
        # (q shape, S, Ev, mask kind, mask shape, causal, scale)
        ((2, 3, 4), 5, 4, None, None, False, None),
        ((1, 2, 4, 3), 4, 2, None, None, True, None),
        ((1, 2, 3, 4), 5, 4, None, None, True, 0.3),
        ((1, 1, 5, 2), 3, 3, None, None, True, None),
        ((2, 2, 3, 4), 4, 4, "bool", (3, 4), False, None),
        ((2, 2, 3, 4), 4, 4, "bool", (2, 1, 3, 4), False, None),
        ((2, 3, 4), 5, 2, "float", (3, 5), False, None),
        ((1, 2, 3, 2), 3, 2, "float", (1, 2, 3, 3), False, 1.5),
        ((1, 1, 1), 1, 1, None, None, False, None),
        ((4, 2), 3, 5, None, None, False, None),
    ]
    for ci, (qs, S, Ev, mk, ms, causal, scale) in enumerate(cases):
        q = f.randn(*qs)
        ks = qs[:-2] + (S, qs[-1])
        vs = qs[:-2] + (S, Ev)
        if mk == "bool":
            m = f.bool(*ms, p=0.7)
            m[..., 0] = True  # no fully masked rows here
        elif mk == "float":
            m = f.randn(*ms)
            m[..., 1] = float("-inf")
        else:
            m = None
        f.case(f"sdpa_{ci}", "ferrite::scaled_dot_product_attention", [("q", q), ("k", f.randn(*ks)), ("v", f.randn(*vs)), ("mask", m)],
               sdpa(causal, scale), attrs={"is_causal": causal, "scale": scale}, nograd=("mask",))
    # Fully masked rows (bool and float -inf masks): output 0 and gradient 0 (Ferrite's convention).
    bm = torch.tensor([[True, False, True], [False, False, False], [True, True, False], [False, False, False]])
    f.case("sdpa_fully_masked_bool", "ferrite::scaled_dot_product_attention", [("q", f.randn(2, 4, 3)), ("k", f.randn(2, 3, 3)), ("v", f.randn(2, 3, 2)), ("mask", bm)],
           sdpa(False, None), attrs={"is_causal": False, "scale": None}, nograd=("mask",), note="fully masked rows: 0 output, 0 gradient")
    fm = torch.where(bm, f.randn(4, 3), float("-inf"))
    f.case("sdpa_fully_masked_float", "ferrite::scaled_dot_product_attention", [("q", f.randn(1, 4, 3)), ("k", f.randn(1, 3, 3)), ("v", f.randn(1, 3, 2)), ("mask", fm)],
           sdpa(False, None), attrs={"is_causal": False, "scale": None}, nograd=("mask",), note="fully masked rows: 0 output, 0 gradient")
    f.case("sdpa_t", "ferrite::scaled_dot_product_attention", [("q", f.randn(2, 3, 4)), ("k", f.randn(2, 5, 4)), ("v", f.randn(2, 5, 3)), ("mask", None)],
           sdpa(True, None), attrs={"is_causal": True, "scale": None}, layouts={"q": "transposed", "k": "transposed", "v": "transposed"})
    f.save()


if __name__ == "__main__":
    elementwise()
    binary()
    reduce()
    matmul()
    conv()
    pool()
    norm()
    embedding_losses()
    shape_index()
    attention()
