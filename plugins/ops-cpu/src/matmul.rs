//! `ferrite::matmul` (torch.matmul: 1-D promotion, broadcast batch dims) and `ferrite::bmm`,
//! forward and backward, over [`crate::gemm`]. f32/f64 natively; f16/bf16 computed in f32 and
//! rounded once on store. Strided or broadcast (stride-0) inputs are gathered first.

use crate::common::shape;
use crate::cpu_op;
use crate::gemm::{with_output, BatchItem, Batched, Mat, MatMut, Scalar};
use crate::register::{compute_in_f64, Call};
use ferrite_sdk::abi::kernel::KernelCtx;
use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::array::{broadcast_index, unravel};
use ferrite_sdk::shape::matmul::{bmm_check, bmm_shape, matmul_plan, matmul_shape, MmPlan};

/// Batched geometry of one product after broadcasting: `nb` products `[n, k] @ [k, m]`, the
/// operand batch each output batch reads, and the operands' own batch counts.
#[derive(Clone, Debug, PartialEq)]
pub struct MmGeo {
    /// Output batches.
    pub nb: usize,
    /// Rows of each product.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of each product.
    pub m: usize,
    /// Batch of `a` read by each output batch.
    pub ia: Vec<usize>,
    /// Batch of `b` read by each output batch.
    pub ib: Vec<usize>,
    /// Batches of `a`.
    pub na: usize,
    /// Batches of `b`.
    pub nbb: usize,
}

impl MmGeo {
    /// Builds the batch maps of a plan; when `b` has a single batch and `a` is not broadcast, the
    /// batches of `a` are folded into the rows of one large product (`[nb·n, k] @ [k, m]`).
    pub fn new(p: &MmPlan) -> MmGeo {
        let (n, k, m) = p.nkm();
        let nb: usize = p.batch.iter().product();
        let na: usize = p.a_batch().iter().product();
        let nbb: usize = p.b_batch().iter().product();
        if nbb == 1 && na == nb {
            return MmGeo { nb: 1, n: nb * n, k, m, ia: vec![0], ib: vec![0], na: 1, nbb: 1 };
        }
        let (mut ia, mut ib) = (Vec::with_capacity(nb), Vec::with_capacity(nb));
        for bi in 0..nb {
            let idx = unravel(bi, &p.batch);
            ia.push(broadcast_index(&idx, p.a_batch()));
            ib.push(broadcast_index(&idx, p.b_batch()));
        }
        MmGeo { nb, n, k, m, ia, ib, na, nbb }
    }

    /// Destination blocks of the gradient of the operand whose batch map is `map` (`count`
    /// batches of `block` elements): each sums the output batches that read it, with terms
    /// `(offset of the product's left factor, offset of its right factor)` given by `term`.
    fn grad_items(map: &[usize], count: usize, block: usize, term: impl Fn(usize) -> (usize, usize)) -> Vec<BatchItem> {
        let mut items: Vec<BatchItem> = (0..count).map(|j| BatchItem { dst_off: j * block, terms: Vec::new() }).collect();
        for (bi, &j) in map.iter().enumerate() {
            items[j].terms.push(term(bi));
        }
        items
    }
}

fn check_numel(what: &str, v: &TensorView, want: usize) -> Result<(), String> {
    // SAFETY: views are valid during the call.
    let got = unsafe { v.numel() };
    if got != want {
        return Err(format!("{what} has {got} elements, expected {want}"));
    }
    Ok(())
}

/// `out = a @ b` for contiguous row-major operand buffers.
///
/// # Safety
/// `ctx` valid or null; buffers sized as the geometry says.
unsafe fn forward_t<T: Scalar>(ctx: *const KernelCtx, g: &MmGeo, a: &[T], b: &[T], out: &mut [T]) {
    let (n, k, m) = (g.n, g.k, g.m);
    let items = (0..g.nb).map(|bi| BatchItem { dst_off: bi * n * m, terms: vec![(g.ia[bi] * n * k, g.ib[bi] * k * m)] }).collect();
    Batched { m: n, n: m, k, dst: MatMut::rows(out.as_mut_ptr(), m), a: Mat::rows(a.as_ptr(), k), b: Mat::rows(b.as_ptr(), m), items }
        .run(ctx);
}

fn mm_forward<T: Scalar>(c: &Call<'_>, p: &MmPlan) -> Result<(), String> {
    let (av, bv) = (c.input(0)?, c.input(1)?);
    let out = c.output(0).ok_or("matmul: output missing")?;
    let g = MmGeo::new(p);
    check_numel("matmul output", out, g.nb * g.n * g.m)?;
    // SAFETY: views are valid for the call; the output is exclusively ours.
    unsafe {
        let (a, b) = (T::read(av), T::read(bv));
        with_output::<T>(out, |o| {
            forward_t(c.ctx, &g, &a, &b, o);
            Ok(())
        })
    }
}

fn mm_backward<T: Scalar>(c: &Call<'_>, p: &MmPlan) -> Result<(), String> {
    let base = c.fwd_input_base(1)?;
    let (gv, av, bv) = (c.input(0)?, c.input(base)?, c.input(base + 1)?);
    let g = MmGeo::new(p);
    let (n, k, m) = (g.n, g.k, g.m);
    check_numel("matmul grad", gv, g.nb * n * m)?;
    // SAFETY: views are valid for the call; gradient outputs are exclusively ours.
    unsafe {
        let dy = T::read(gv);
        if let Some(da) = c.output(0) {
            check_numel("matmul grad of input", da, g.na * n * k)?;
            let b = T::read(bv);
            let items = MmGeo::grad_items(&g.ia, g.na, n * k, |bi| (bi * n * m, g.ib[bi] * k * m));
            with_output::<T>(da, |o| {
                let dst = MatMut::rows(o.as_mut_ptr(), k);
                Batched { m: n, n: k, k: m, dst, a: Mat::rows(dy.as_ptr(), m), b: Mat::rows_t(b.as_ptr(), m), items }.run(c.ctx);
                Ok(())
            })?;
        }
        if let Some(db) = c.output(1) {
            check_numel("matmul grad of other", db, g.nbb * k * m)?;
            let a = T::read(av);
            let items = MmGeo::grad_items(&g.ib, g.nbb, k * m, |bi| (g.ia[bi] * n * k, bi * n * m));
            with_output::<T>(db, |o| {
                let dst = MatMut::rows(o.as_mut_ptr(), m);
                Batched { m: k, n: m, k: n, dst, a: Mat::rows_t(a.as_ptr(), k), b: Mat::rows(dy.as_ptr(), m), items }.run(c.ctx);
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn plan_of(c: &Call<'_>, op: &str, base: usize) -> Result<MmPlan, String> {
    let (a, b) = (shape(c.input(base)?), shape(c.input(base + 1)?));
    if op == "bmm" {
        bmm_check(&a, &b)?;
    }
    matmul_plan(op, &a, &b)
}

/// Forward kernel of `ferrite::matmul`: `[..., n, k] @ [..., k, m] → [..., n, m]` with
/// torch.matmul's 1-D promotion and broadcast batch dims; dtypes f32, f64, f16, bf16. Errors on
/// mismatched shapes or a non-float dtype.
pub fn matmul_forward(c: &Call<'_>) -> Result<(), String> {
    let p = plan_of(c, "matmul", 0)?;
    if compute_in_f64("matmul", c.input(0)?.dtype)? {
        mm_forward::<f64>(c, &p)
    } else {
        mm_forward::<f32>(c, &p)
    }
}

/// Backward kernel of `ferrite::matmul`: `dA = dY·Bᵀ`, `dB = Aᵀ·dY`, each summed over the batch
/// dims its operand was broadcast along; only the requested gradients are computed.
pub fn matmul_backward(c: &Call<'_>) -> Result<(), String> {
    let p = plan_of(c, "matmul", c.fwd_input_base(1)?)?;
    if compute_in_f64("matmul", c.input(0)?.dtype)? {
        mm_backward::<f64>(c, &p)
    } else {
        mm_backward::<f32>(c, &p)
    }
}

/// Forward kernel of `ferrite::bmm`: `[B, n, k] @ [B, k, m] → [B, n, m]` (no broadcasting);
/// errors unless both operands are 3-d with equal `B` and `k`.
pub fn bmm_forward(c: &Call<'_>) -> Result<(), String> {
    let p = plan_of(c, "bmm", 0)?;
    if compute_in_f64("bmm", c.input(0)?.dtype)? {
        mm_forward::<f64>(c, &p)
    } else {
        mm_forward::<f32>(c, &p)
    }
}

/// Backward kernel of `ferrite::bmm`: `dA = dY·Bᵀ`, `dB = Aᵀ·dY` per batch.
pub fn bmm_backward(c: &Call<'_>) -> Result<(), String> {
    let p = plan_of(c, "bmm", c.fwd_input_base(1)?)?;
    if compute_in_f64("bmm", c.input(0)?.dtype)? {
        mm_backward::<f64>(c, &p)
    } else {
        mm_backward::<f32>(c, &p)
    }
}

cpu_op! {
    MATMUL {
        name: "ferrite::matmul",
        version: 1,
        api_names: ["matmul", "linalg.matmul"],
        aliases: ["aten::matmul"],
        doc: "Matrix product with torch.matmul semantics (1-D promotion, broadcast batch dims).",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("other")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        shape: matmul_shape,
        forward: matmul_forward,
        backward: some(matmul_backward),
    }
}

cpu_op! {
    BMM {
        name: "ferrite::bmm",
        version: 1,
        api_names: ["bmm"],
        aliases: ["aten::bmm"],
        doc: "Batched matrix product [B, n, k] @ [B, k, m] -> [B, n, m], no broadcasting.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("mat2")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        shape: bmm_shape,
        forward: bmm_forward,
        backward: some(bmm_backward),
    }
}

#[cfg(test)]
#[path = "matmul_tests.rs"]
mod tests;
