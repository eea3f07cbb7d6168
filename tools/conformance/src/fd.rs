//! Finite differences of a plugin's own f64 forward: `loss = Σ out·g` over the differentiable
//! outputs (finite elements only), central differences with a relative step, against the
//! plugin's backward.

use crate::case::Case;
use crate::check::{compare_fd, Mismatch, Target};
use crate::tensors::for_reference;
use crate::tolerance::FD_STEP;
use ferrite_core::provider::forward_of;
use ferrite_core::Tensor;
use ferrite_sdk::DType;

fn loss(outs: &[Tensor], g: &[Vec<f64>], diff: &[bool], finite: &[Vec<bool>]) -> f64 {
    let mut l = 0.0;
    for (j, o) in outs.iter().enumerate() {
        if !diff.get(j).copied().unwrap_or(false) || !o.dtype().is_float() {
            continue;
        }
        for (i, v) in o.to_f64_vec().into_iter().enumerate() {
            if finite[j][i] {
                l += v * g[j][i];
            }
        }
    }
    l
}

/// Checks the plugin's gradients `analytic` (from its backward, f64) against central finite
/// differences of its forward, on at most `t.fd_elements` input elements spread over the
/// differentiated inputs. Frozen elements are skipped (the comparison with ops-ref covers them).
pub fn check_fd(
    case: &Case,
    t: &Target,
    outs: &[Tensor],
    g: &[Vec<f64>],
    diff: &[bool],
    analytic: &[Option<Tensor>],
) -> Result<(), Mismatch> {
    let finite: Vec<Vec<bool>> = outs.iter().map(|o| o.to_f64_vec().iter().map(|v| v.is_finite()).collect()).collect();
    let mut data: Vec<Option<Vec<f64>>> = case.inputs.iter().map(|i| i.as_ref().map(|i| i.data.clone())).collect();
    let eval = |data: &[Option<Vec<f64>>]| -> Result<f64, Mismatch> {
        let ins: Vec<Option<Tensor>> = case
            .inputs
            .iter()
            .zip(data)
            .map(|(i, d)| match (i, d) {
                (Some(i), Some(d)) => {
                    let mut i = i.clone();
                    i.data = d.clone();
                    for_reference(&i, DType::F64).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<ferrite_core::Result<_>>()
            .map_err(|e| Mismatch { part: "finite differences".into(), max_abs_err: f64::INFINITY, detail: e.to_string() })?;
        let o = forward_of(case.op, &t.plugin, &ins, &case.attrs)
            .map_err(|e| Mismatch { part: "finite differences".into(), max_abs_err: f64::INFINITY, detail: format!("perturbed forward failed: {e}") })?;
        Ok(loss(&o, g, diff, &finite))
    };
    let total: usize = analytic.iter().flatten().map(|a| a.numel()).sum();
    let stride = total.div_ceil(t.fd_elements.max(1)).max(1);
    let mut flat = 0usize;
    for (k, a) in analytic.iter().enumerate() {
        let Some(a) = a else { continue };
        let av = a.to_f64_vec();
        let (mut got, mut fd) = (Vec::new(), Vec::new());
        for j in 0..av.len() {
            flat += 1;
            if (flat - 1) % stride != 0 || case.frozen.contains(&(k, j)) {
                continue;
            }
            let x0 = data[k].as_ref().expect("present")[j];
            if !x0.is_finite() {
                continue;
            }
            let h = FD_STEP * x0.abs().max(1.0);
            data[k].as_mut().expect("present")[j] = x0 + h;
            let lp = eval(&data)?;
            data[k].as_mut().expect("present")[j] = x0 - h;
            let lm = eval(&data)?;
            data[k].as_mut().expect("present")[j] = x0;
            got.push(av[j]);
            fd.push((lp - lm) / (2.0 * h));
        }
        compare_fd(&format!("backward input {k} vs finite differences"), &got, &fd)?;
    }
    Ok(())
}
