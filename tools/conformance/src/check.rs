//! Checking one [`Case`] of one kernel: the plugin's forward against ops-ref's in f64 on the
//! same (dtype-rounded) inputs; where both have a backward, the plugin's gradients against
//! ops-ref's; for f64 kernels, the plugin's gradients against central finite differences of
//! the plugin's own forward.

use crate::case::{Case, Kind};
use crate::gen::{Layout, Rng};
use crate::tensors::{for_kernel, for_reference, make, round_to};
use crate::tolerance::{Tolerance, FD};
use ferrite_core::provider::{backward_of, forward_of};
use ferrite_core::{Runtime, Tensor};
use ferrite_sdk::DType;

/// The kernel under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// Plugin under test.
    pub plugin: String,
    /// The reference plugin (`ops-ref`).
    pub reference: String,
    /// Kernel dtype.
    pub dtype: DType,
    /// Whether the plugin's kernel has a backward.
    pub backward: bool,
    /// Whether the reference's kernel has a backward.
    pub ref_backward: bool,
    /// Most input elements perturbed for finite differences per case (0: none).
    pub fd_elements: usize,
}

/// Why a case failed.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// What was compared: `forward output 0`, `backward input 1 vs ops-ref`, `backward input 0
    /// vs finite differences`, `forward error`.
    pub part: String,
    /// Largest `|got - want|` (infinite for NaN/inf or shape mismatches).
    pub max_abs_err: f64,
    /// Details: the worst element, the count of bad elements, or the error message.
    pub detail: String,
}

fn fail<T>(part: impl Into<String>, detail: impl Into<String>) -> Result<T, Mismatch> {
    Err(Mismatch { part: part.into(), max_abs_err: f64::INFINITY, detail: detail.into() })
}

/// Ties among `data` respaced (order kept) to a grid every float dtype holds exactly.
fn untie(data: &[f64]) -> Vec<f64> {
    let mut sorted = data.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.windows(2).all(|w| w[0] != w[1]) {
        return data.to_vec();
    }
    let mut idx: Vec<usize> = (0..data.len()).collect();
    idx.sort_by(|&a, &b| data[a].total_cmp(&data[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; data.len()];
    let half = (data.len() / 2) as f64;
    for (rank, &i) in idx.iter().enumerate() {
        out[i] = (rank as f64 - half) * 0.125 + 0.0625;
    }
    out
}

/// The case as a kernel of `dtype` sees it: float values rounded to `dtype`, ties removed
/// from inputs that must not have them.
pub fn rounded(case: &Case, dtype: DType) -> Case {
    let mut c = case.clone();
    for inp in c.inputs.iter_mut().flatten() {
        if inp.is_float() {
            inp.data = round_to(&inp.data, dtype);
            if inp.kind == Kind::Distinct {
                inp.data = untie(&inp.data);
            }
        }
    }
    c
}

/// Compares `got` with `want` element by element under `tol`; returns the largest excess.
fn compare(part: &str, got: &Tensor, want: &Tensor, tol: Tolerance) -> Result<f64, Mismatch> {
    if got.shape() != want.shape() {
        return fail(part, format!("shape {:?}, ops-ref {:?}", got.shape(), want.shape()));
    }
    compare_vals(part, &got.to_f64_vec(), &want.to_f64_vec(), tol)
}

fn compare_vals(part: &str, g: &[f64], w: &[f64], tol: Tolerance) -> Result<f64, Mismatch> {
    let scale = w.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    let (mut worst, mut at, mut bad, mut max_abs) = (0.0f64, 0usize, 0usize, 0.0f64);
    for (i, (&a, &b)) in g.iter().zip(w).enumerate() {
        let e = tol.excess(a, b, scale);
        if e > 1.0 {
            bad += 1;
        }
        let abs = if a == b || (a.is_nan() && b.is_nan()) { 0.0 } else { (a - b).abs() };
        max_abs = if abs.is_nan() { f64::INFINITY } else { max_abs.max(abs) };
        if e > worst {
            (worst, at) = (e, i);
        }
    }
    if bad > 0 {
        return Err(Mismatch {
            part: part.to_string(),
            max_abs_err: max_abs,
            detail: format!(
                "{bad} of {} elements off; worst at flat index {at}: got {}, want {} (allowed |err| <= {:e} + {:e}·|want|, scale {scale:e})",
                g.len(),
                g[at],
                w[at],
                tol.atol * scale.max(1.0),
                tol.rtol
            ),
        });
    }
    Ok(worst)
}

/// Which outputs of `op` carry gradient (from the registered schema).
fn differentiable_outputs(op: &str, n: usize) -> Vec<bool> {
    let reg = Runtime::global().registry();
    reg.resolve(op)
        .and_then(|(id, _)| reg.op(id))
        .map(|e| e.schema().outputs.iter().map(|o| o.differentiable).collect())
        .unwrap_or_else(|| vec![true; n])
}

/// Output gradients: seeded values on differentiable float outputs, zeros elsewhere.
fn out_grads(case: &Case, outs: &[Tensor], diff: &[bool]) -> Vec<Vec<f64>> {
    let mut r = Rng::new(case.seed ^ 0xD1FF);
    outs.iter()
        .enumerate()
        .map(|(j, o)| {
            if diff.get(j).copied().unwrap_or(false) && o.dtype().is_float() {
                r.vals(o.numel(), -1.0, 1.0)
            } else {
                vec![0.0; o.numel()]
            }
        })
        .collect()
}

fn usize_shape(t: &Tensor) -> Vec<usize> {
    t.shape().iter().map(|&d| d as usize).collect()
}

/// A case that passed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Passed {
    /// Largest error seen, in units of the tolerance (≤ 1).
    pub worst: f64,
    /// Both the plugin and ops-ref rejected the input (an error from each): they agree, but
    /// nothing was computed.
    pub rejected: bool,
}

/// Runs the whole check of one case.
pub fn check_case(case: &Case, t: &Target) -> Result<Passed, Mismatch> {
    check_inner(case, t).map(|w| Passed { worst: w.max(0.0), rejected: w < 0.0 })
}

/// As [`check_case`]; -1 means both rejected the input.
fn check_inner(case: &Case, t: &Target) -> Result<f64, Mismatch> {
    let dt = t.dtype;
    let ref_dt = if dt.is_float() { DType::F64 } else { dt };
    let case = rounded(case, dt);
    let build = |f: &dyn Fn(&crate::case::Input) -> ferrite_core::Result<Tensor>| -> Result<Vec<Option<Tensor>>, Mismatch> {
        case.inputs
            .iter()
            .map(|i| i.as_ref().map(f).transpose())
            .collect::<ferrite_core::Result<_>>()
            .or_else(|e| fail("building inputs", e.to_string()))
    };
    let ins = build(&|i| for_kernel(i, dt))?;
    let ref_ins = build(&|i| for_reference(i, ref_dt))?;
    let want = forward_of(case.op, &t.reference, &ref_ins, &case.attrs);
    let got = forward_of(case.op, &t.plugin, &ins, &case.attrs);
    let (got, want) = match (got, want) {
        (Err(_), Err(_)) => return Ok(-1.0),
        (Err(e), Ok(_)) => return fail("forward error", format!("{} rejected an input ops-ref accepts: {e}", t.plugin)),
        (Ok(_), Err(e)) => return fail("forward error", format!("{} accepted an input ops-ref rejects ({e})", t.plugin)),
        (Ok(g), Ok(w)) => (g, w),
    };
    if got.len() != want.len() {
        return fail("forward outputs", format!("{} outputs, ops-ref {}", got.len(), want.len()));
    }
    let mut worst = 0.0f64;
    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
        let expect_dt = if w.dtype() == DType::F64 && dt.is_float() { dt } else { w.dtype() };
        if g.dtype() != expect_dt {
            return fail(format!("forward output {j}"), format!("dtype {}, expected {}", g.dtype().short(), expect_dt.short()));
        }
        let tol = if w.dtype().is_float() { Tolerance::of(dt) } else { Tolerance::of(DType::I64) };
        worst = worst.max(compare(&format!("forward output {j}"), g, w, tol)?);
    }
    let needs: Vec<bool> = case.inputs.iter().map(|i| i.as_ref().is_some_and(|i| i.grad && i.is_float())).collect();
    if !(t.backward && needs.iter().any(|&n| n)) {
        return Ok(worst);
    }
    let diff = differentiable_outputs(case.op, want.len());
    let gvals = out_grads(&case, &want, &diff);
    let mk_grads = |dtype_of: &dyn Fn(&Tensor) -> DType, outs: &[Tensor], lay: Layout| -> Result<Vec<Tensor>, Mismatch> {
        outs.iter()
            .zip(&gvals)
            .map(|(o, v)| {
                let l = if lay == Layout::Transposed && o.shape().len() >= 2 { Layout::Transposed } else { Layout::Contig };
                make(&round_to(v, dtype_of(o)), &usize_shape(o), dtype_of(o), l)
            })
            .collect::<ferrite_core::Result<_>>()
            .or_else(|e| fail("building gradients", e.to_string()))
    };
    let lay = if case.transpose_grad { Layout::Transposed } else { Layout::Contig };
    let g_plugin = mk_grads(&|o| o.dtype(), &got, lay)?;
    let gp = backward_of(case.op, &t.plugin, &g_plugin, &ins, &got, &case.attrs, &needs).or_else(|e| fail("backward error", e.to_string()))?;
    if t.ref_backward {
        let g_ref = mk_grads(&|o| o.dtype(), &want, Layout::Contig)?;
        let gr = backward_of(case.op, &t.reference, &g_ref, &ref_ins, &want, &case.attrs, &needs)
            .or_else(|e| fail("reference backward error", e.to_string()))?;
        for (k, (p, r)) in gp.iter().zip(&gr).enumerate() {
            if let (Some(p), Some(r)) = (p, r) {
                worst = worst.max(compare(&format!("backward input {k} vs ops-ref"), p, r, Tolerance::of(dt))?);
            } else if p.is_some() != r.is_some() {
                return fail(format!("backward input {k}"), "gradient present in only one of plugin and ops-ref");
            }
        }
    }
    if dt == DType::F64 && t.fd_elements > 0 {
        crate::fd::check_fd(&case, t, &got, &gvals, &diff, &gp)?;
    }
    Ok(worst)
}

/// Compares gradients with finite differences (used by [`crate::fd`]).
pub(crate) fn compare_fd(part: &str, analytic: &[f64], fd: &[f64]) -> Result<f64, Mismatch> {
    compare_vals(part, analytic, fd, FD)
}
