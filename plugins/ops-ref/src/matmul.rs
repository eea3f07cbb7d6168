//! Matrix products: `matmul` (torch.matmul semantics), `bmm` and `linear`.

use crate::common::req;
use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::kernel::array::{broadcast_index, unravel};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
pub use ferrite_sdk::shape::matmul::{bmm_check, bmm_shape, linear_check, linear_shape, matmul_plan, matmul_shape, MmPlan};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// `[..., n, k] @ [..., k, m]` over broadcast batch dims (shapes already promoted).
fn mm_data(p: &MmPlan, a: &[f64], b: &[f64]) -> Vec<f64> {
    let (ra, rb) = (p.a.len(), p.b.len());
    let (n, k, m) = (p.a[ra - 2], p.a[ra - 1], p.b[rb - 1]);
    let nb: usize = p.batch.iter().product();
    let mut out = vec![0.0; nb * n * m];
    for bi in 0..nb {
        let idx = unravel(bi, &p.batch);
        let (oa, ob) = (broadcast_index(&idx, &p.a[..ra - 2]) * n * k, broadcast_index(&idx, &p.b[..rb - 2]) * k * m);
        for i in 0..n {
            for j in 0..m {
                let mut s = 0.0;
                for q in 0..k {
                    s += a[oa + i * k + q] * b[ob + q * m + j];
                }
                out[(bi * n + i) * m + j] = s;
            }
        }
    }
    out
}

/// Gradients of `mm_data` for upstream `g` (same data layout as its output), summed over
/// broadcast batch dims back to each operand's own (promoted) shape.
fn mm_grads(p: &MmPlan, a: &[f64], b: &[f64], g: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (ra, rb) = (p.a.len(), p.b.len());
    let (n, k, m) = (p.a[ra - 2], p.a[ra - 1], p.b[rb - 1]);
    let nb: usize = p.batch.iter().product();
    let (mut da, mut db) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for bi in 0..nb {
        let idx = unravel(bi, &p.batch);
        let (oa, ob) = (broadcast_index(&idx, &p.a[..ra - 2]) * n * k, broadcast_index(&idx, &p.b[..rb - 2]) * k * m);
        for i in 0..n {
            for j in 0..m {
                let gv = g[(bi * n + i) * m + j];
                for q in 0..k {
                    da[oa + i * k + q] += gv * b[ob + q * m + j];
                    db[ob + q * m + j] += gv * a[oa + i * k + q];
                }
            }
        }
    }
    (da, db)
}

/// `torch.matmul`: `[..., n, k] @ [..., k, m] -> [..., n, m]`; a 1-D first operand is promoted to
/// `[1, k]` and a 1-D second to `[k, 1]`, the added dims removed from the result; batch dims
/// broadcast (NumPy rules). Matches PyTorch's `torch.matmul`.
pub fn matmul_forward(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (a, b) = (req(ins, 0)?, req(ins, 1)?);
    let p = matmul_plan("matmul", &a.shape, &b.shape)?;
    Ok(vec![Array::new(p.out.clone(), mm_data(&p, &a.data, &b.data))?])
}

/// Backward of [`matmul_forward`]: `dA = dY·Bᵀ`, `dB = Aᵀ·dY`, summed over broadcast batch dims to
/// each operand's shape.
pub fn matmul_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (x, y) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let p = matmul_plan("matmul", &x.shape, &y.shape)?;
    let (dx, dy) = mm_grads(&p, &x.data, &y.data, &a.grads[0].data);
    Ok(vec![Some(Array::new(x.shape.clone(), dx)?), Some(Array::new(y.shape.clone(), dy)?)])
}

/// Batched matrix product `[B, n, k] @ [B, k, m] -> [B, n, m]`. Matches PyTorch's `torch.bmm`.
pub fn bmm_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    bmm_check(&req(ins, 0)?.shape, &req(ins, 1)?.shape)?;
    matmul_forward(ins, attrs)
}

/// Backward of [`bmm_forward`]: `dA = dY·Bᵀ`, `dB = Aᵀ·dY` per batch.
pub fn bmm_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    bmm_check(&req(&a.inputs, 0)?.shape, &req(&a.inputs, 1)?.shape)?;
    matmul_backward(a)
}

/// `y = x·Wᵀ + b` for input `[*, in]`, weight `[out, in]`, optional bias `[out]` → `[*, out]`.
/// Matches PyTorch's `torch.nn.functional.linear`.
pub fn linear_forward(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (x, w) = (req(ins, 0)?, req(ins, 1)?);
    let b = ins.get(2).and_then(|b| b.as_ref());
    let shape = linear_check(&x.shape, &w.shape, b.map(|b| &b.shape[..]))?;
    let (fin, fout) = (w.shape[1], w.shape[0]);
    let rows: usize = x.shape[..x.ndim() - 1].iter().product();
    let mut out = vec![0.0; rows * fout];
    for r in 0..rows {
        for o in 0..fout {
            let mut s = b.map_or(0.0, |b| b.data[o]);
            for i in 0..fin {
                s += x.data[r * fin + i] * w.data[o * fin + i];
            }
            out[r * fout + o] = s;
        }
    }
    Ok(vec![Array::new(shape, out)?])
}

/// Backward of [`linear_forward`]: `dx = dy·W`, `dW = Σ_rows dyᵀ·x`, `db = Σ_rows dy`.
pub fn linear_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (x, w) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let b = a.inputs.get(2).and_then(|b| b.as_ref());
    linear_check(&x.shape, &w.shape, b.map(|b| &b.shape[..]))?;
    let g = &a.grads[0];
    let (fin, fout) = (w.shape[1], w.shape[0]);
    let rows: usize = x.shape[..x.ndim() - 1].iter().product();
    let (mut dx, mut dw, mut db) = (vec![0.0; x.numel()], vec![0.0; w.numel()], vec![0.0; fout]);
    for r in 0..rows {
        for o in 0..fout {
            let gv = g.data[r * fout + o];
            db[o] += gv;
            for i in 0..fin {
                dx[r * fin + i] += gv * w.data[o * fin + i];
                dw[o * fin + i] += gv * x.data[r * fin + i];
            }
        }
    }
    Ok(vec![
        Some(Array::new(x.shape.clone(), dx)?),
        Some(Array::new(w.shape.clone(), dw)?),
        b.map(|_| Array::new(vec![fout], db)).transpose()?,
    ])
}

reference_op! {
    MATMUL {
        name: "ferrite::matmul",
        version: 1,
        api_names: ["matmul", "linalg.matmul"],
        aliases: ["aten::matmul"],
        deprecated: [],
        doc: "Matrix product with torch.matmul semantics (1-D promotion, broadcast batch dims).",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("other")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: matmul_shape,
        forward: matmul_forward,
        backward: some(matmul_backward),
    }
}

reference_op! {
    BMM {
        name: "ferrite::bmm",
        version: 1,
        api_names: ["bmm"],
        aliases: ["aten::bmm"],
        deprecated: [],
        doc: "Batched matrix product [B, n, k] @ [B, k, m] -> [B, n, m], no broadcasting.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("mat2")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: bmm_shape,
        forward: bmm_forward,
        backward: some(bmm_backward),
    }
}

reference_op! {
    LINEAR {
        name: "ferrite::linear",
        version: 1,
        api_names: ["nn.functional.linear", "linear"],
        aliases: ["aten::linear"],
        deprecated: [],
        doc: "Affine map y = x W^T + b: input [*, in], weight [out, in], bias [out] -> [*, out].",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("weight"), ArgDesc::tensor("bias").optional()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: linear_shape,
        forward: linear_forward,
        backward: some(linear_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::{assert_close, check_grads, Rng};
    use proptest::prelude::*;

    fn a(shape: &[usize], data: &[f64]) -> Option<Array> {
        Some(Array::new(shape.to_vec(), data.to_vec()).unwrap())
    }

    #[test]
    fn matmul_hand_examples_and_promotion() {
        let none = Attrs::default();
        let o = matmul_forward(&[a(&[2, 2], &[1., 2., 3., 4.]), a(&[2, 2], &[5., 6., 7., 8.])], &none).unwrap();
        assert_eq!(o[0].data, vec![19., 22., 43., 50.]);
        let o = matmul_forward(&[a(&[3], &[1., 2., 3.]), a(&[3], &[4., 5., 6.])], &none).unwrap();
        assert_eq!((o[0].shape.clone(), o[0].data.clone()), (vec![], vec![32.]));
        let o = matmul_forward(&[a(&[2], &[1., 2.]), a(&[2, 3], &[1., 2., 3., 4., 5., 6.])], &none).unwrap();
        assert_eq!((o[0].shape.clone(), o[0].data.clone()), (vec![3], vec![9., 12., 15.]));
        let o = matmul_forward(&[a(&[2, 3], &[1., 2., 3., 4., 5., 6.]), a(&[3], &[1., 0., -1.])], &none).unwrap();
        assert_eq!((o[0].shape.clone(), o[0].data.clone()), (vec![2], vec![-2., -2.]));
        assert!(matmul_forward(&[a(&[2, 3], &[0.; 6]), a(&[2, 3], &[0.; 6])], &none).is_err());
        assert!(matmul_forward(&[a(&[], &[1.]), a(&[1], &[1.])], &none).is_err());
        assert!(matmul_forward(&[a(&[2, 1, 1], &[0.; 2]), a(&[3, 1, 1], &[0.; 3])], &none).is_err());
    }

    #[test]
    fn bmm_and_linear_errors() {
        let none = Attrs::default();
        assert!(bmm_forward(&[a(&[2, 1, 1], &[0.; 2]), a(&[1, 1, 1], &[0.; 1])], &none).is_err());
        assert!(bmm_forward(&[a(&[1, 1], &[0.; 1]), a(&[1, 1], &[0.; 1])], &none).is_err());
        assert!(linear_forward(&[a(&[2, 3], &[0.; 6]), a(&[2, 2], &[0.; 4])], &none).is_err());
        assert!(linear_forward(&[a(&[2, 3], &[0.; 6]), a(&[2, 3], &[0.; 6]), a(&[3], &[0.; 3])], &none).is_err());
    }

    #[test]
    fn linear_matches_matmul_and_grads() {
        let mut r = Rng::new(3);
        let (x, w, b) = (r.array(&[2, 3, 4]), r.array(&[5, 4]), r.array(&[5]));
        let none = Attrs::default();
        let y = linear_forward(&[Some(x.clone()), Some(w.clone()), Some(b.clone())], &none).unwrap();
        let wt = Array::new(vec![4, 5], (0..20).map(|i| w.data[(i % 5) * 4 + i / 5]).collect()).unwrap();
        let mm = matmul_forward(&[Some(x.clone()), Some(wt)], &none).unwrap();
        let exp: Vec<f64> = mm[0].data.iter().enumerate().map(|(i, v)| v + b.data[i % 5]).collect();
        assert_close("linear", &y[0].data, &exp, 1e-12);
        check_grads(linear_forward, linear_backward, &[Some(x.clone()), Some(w.clone()), Some(b)], &none, &[0, 1, 2], &[0], 1);
        check_grads(linear_forward, linear_backward, &[Some(x), Some(w), None], &none, &[0, 1], &[0], 2);
    }

    #[test]
    fn bmm_grads() {
        let mut r = Rng::new(4);
        let ins = [Some(r.array(&[3, 2, 4])), Some(r.array(&[3, 4, 5]))];
        check_grads(bmm_forward, bmm_backward, &ins, &Attrs::default(), &[0, 1], &[0], 5);
    }

    fn shape_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        // A full batch shape; each operand takes a suffix of it with some dims set to 1.
        (
            prop::collection::vec(1usize..4, 0..3),
            (0usize..3, 0usize..3, any::<u8>(), any::<u8>()),
            (1usize..4, 1usize..4, 1usize..4, any::<bool>(), any::<bool>()),
        )
            .prop_map(|(full, (da, db, ma, mb), (n, k, m, a1, b1))| {
                let take = |drop: usize, mask: u8| -> Vec<usize> {
                    let s = &full[drop.min(full.len())..];
                    s.iter().enumerate().map(|(i, &d)| if mask >> i & 1 == 1 { 1 } else { d }).collect()
                };
                let sa = if a1 { vec![k] } else { [take(da, ma), vec![n, k]].concat() };
                let sb = if b1 { vec![k] } else { [take(db, mb), vec![k, m]].concat() };
                (sa, sb)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn matmul_broadcast_forward_and_grads((sa, sb) in shape_strategy(), seed in 0u64..1000) {
            let mut r = Rng::new(seed);
            let (x, y) = (r.array(&sa), r.array(&sb));
            let none = Attrs::default();
            let out = matmul_forward(&[Some(x.clone()), Some(y.clone())], &none).unwrap();
            // Independent check: each output element against a direct dot product.
            let p = matmul_plan("matmul", &sa, &sb).unwrap();
            let (ra, rb) = (p.a.len(), p.b.len());
            let (n, k, m) = (p.a[ra - 2], p.a[ra - 1], p.b[rb - 1]);
            let full = [p.batch.clone(), vec![n, m]].concat();
            for (f, &v) in out[0].data.iter().enumerate() {
                let idx = unravel(f, &full);
                let nb = idx.len() - 2;
                let mut s = 0.0;
                for q in 0..k {
                    let ia = [idx[..nb].to_vec(), vec![idx[nb], q]].concat();
                    let ib = [idx[..nb].to_vec(), vec![q, idx[nb + 1]]].concat();
                    s += x.data[broadcast_index(&ia, &p.a)] * y.data[broadcast_index(&ib, &p.b)];
                }
                prop_assert!((s - v).abs() < 1e-12);
            }
            check_grads(matmul_forward, matmul_backward, &[Some(x), Some(y)], &none, &[0, 1], &[0], seed);
        }
    }
}
