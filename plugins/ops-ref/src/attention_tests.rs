//! Tests for `attention.rs`: field case C02, the ABI mask-dtype switch, an independent naive
//! implementation with random masks (including fully masked rows), finite differences.

use super::*;
use crate::fd::{assert_close, check_grads, Rng};
use ferrite_sdk::abi::kernel::AttrValue;
use ferrite_sdk::abi::view::TensorView;
use ferrite_sdk::kernel::{Attr, Meta};
use ferrite_sdk::{DType, Device};
use proptest::prelude::*;
use std::ffi::c_void;

fn arr(shape: &[usize], data: &[f64]) -> Array {
    Array::new(shape.to_vec(), data.to_vec()).unwrap()
}

fn c02_inputs() -> [Option<Array>; 4] {
    let q = arr(&[3, 2], &[1., 0., 0., 1., 2., 1.]);
    let k = arr(&[3, 2], &[1., 0., 0., 1., 2., -1.]);
    let v = arr(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
    let m = arr(&[3, 3], &[1., 0., 1., 0., 0., 0., 1., 1., 0.]);
    [Some(q), Some(k), Some(v), Some(m)]
}

#[test]
fn c02_fully_masked_row_is_zero_with_zero_grad() {
    let ins = c02_inputs();
    let at = Attrs(vec![Attr::Bool(false), Attr::Float(f64::NAN)]);
    let out = sdpa_forward_bool_mask(&ins, &at).unwrap();
    assert_close("out", &out[0].data, &[3.679046, 4.679046, 0.0, 0.0, 1.660477, 2.660477], 1e-5);
    let args = BackwardArgs {
        grads: vec![Array::full(&[3, 2], 1.0)],
        inputs: ins.to_vec(),
        outputs: out,
        attrs: at.clone(),
        needs: vec![true, true, true, false],
    };
    let g = sdpa_backward_bool_mask(&args).unwrap();
    let all: Vec<f64> = g.iter().flatten().flat_map(|a| a.data.clone()).collect();
    assert!(all.iter().all(|v| v.is_finite()), "no NaN anywhere");
    assert_close("dQ", &g[0].as_ref().unwrap().data, &[1.251189, -1.251189, 0.0, 0.0, -0.625594, 0.625594], 1e-5);
    assert_close("dK", &g[1].as_ref().unwrap().data, &[-2.502378, -0.625594, 1.251189, 0.625594, 1.251189, 0.0], 1e-5);
    assert_close("dV", &g[2].as_ref().unwrap().data, &[1.0, 1.0, 0.330238, 0.330238, 0.669762, 0.669762], 1e-5);
    // Explicit scale 1/sqrt(2) gives the same result.
    let at2 = Attrs(vec![Attr::Bool(false), Attr::Float(0.5f64.sqrt())]);
    assert_close("explicit scale", &sdpa_forward_bool_mask(&ins, &at2).unwrap()[0].data, &args.outputs[0].data, 1e-15);
    check_grads(sdpa_forward_bool_mask, sdpa_backward_bool_mask, &ins, &at, &[0, 1, 2], &[0], 2);
}

#[test]
fn causal_is_top_left_aligned() {
    // L=2, S=3: row 0 sees key 0 only, row 1 sees keys 0 and 1.
    let q = arr(&[2, 1], &[0., 0.]);
    let k = arr(&[3, 1], &[0., 0., 0.]);
    let v = arr(&[3, 1], &[1., 2., 100.]);
    let out = sdpa_forward_float_mask(&[Some(q), Some(k), Some(v), None], &Attrs(vec![Attr::Bool(true)])).unwrap();
    assert_eq!(out[0].data, vec![1.0, 1.5]);
}

#[test]
fn sdpa_errors() {
    let z = |s: &[usize]| Some(Array::zeros(s));
    let none = Attrs::default();
    assert!(sdpa_forward_float_mask(&[z(&[2]), z(&[2]), z(&[2]), None], &none).is_err());
    assert!(sdpa_forward_float_mask(&[z(&[2, 3, 4]), z(&[1, 3, 4]), z(&[2, 3, 4]), None], &none).is_err());
    assert!(sdpa_forward_float_mask(&[z(&[3, 4]), z(&[3, 5]), z(&[3, 4]), None], &none).is_err());
    assert!(sdpa_forward_float_mask(&[z(&[3, 4]), z(&[3, 4]), z(&[2, 4]), None], &none).is_err());
    assert!(sdpa_forward_float_mask(&[z(&[3, 4]), z(&[5, 4]), z(&[5, 4]), z(&[3, 4])], &none).is_err());
    assert!(sdpa_forward_float_mask(&[z(&[3, 4]), z(&[5, 4]), z(&[5, 4]), z(&[2, 3, 5])], &none).is_err());
    let e = sdpa_forward_float_mask(&[z(&[3, 4]), z(&[5, 4]), z(&[5, 2]), z(&[3, 1])], &none).unwrap();
    assert_eq!(e[0].shape, vec![3, 2]);
    let m = |d: DType, s: Vec<usize>| Some(Meta::new(d, s));
    let bad = [m(DType::F32, vec![3, 4]), m(DType::F32, vec![5, 4]), m(DType::F32, vec![5, 4]), m(DType::I64, vec![3, 5])];
    assert!(sdpa_shape(&bad, &none).is_err());
    let mixed = [m(DType::F32, vec![3, 4]), m(DType::F64, vec![5, 4]), m(DType::F32, vec![5, 4]), None];
    assert!(sdpa_shape(&mixed, &none).is_err());
}

/// Owned storage for a test [`TensorView`].
struct Owned {
    bytes: Vec<u8>,
    shape: Vec<i64>,
    strides: Vec<i64>,
    dtype: DType,
}

impl Owned {
    fn f64s(a: &Array) -> Owned {
        Owned::new(a, DType::F64, a.data.iter().flat_map(|v| v.to_ne_bytes()).collect())
    }
    fn bools(a: &Array) -> Owned {
        Owned::new(a, DType::BOOL, a.data.iter().map(|&v| (v != 0.0) as u8).collect())
    }
    fn new(a: &Array, dtype: DType, bytes: Vec<u8>) -> Owned {
        let strides = a.strides().iter().map(|&s| s as i64).collect();
        Owned { bytes, shape: a.shape.iter().map(|&d| d as i64).collect(), strides, dtype }
    }
    fn view(&mut self) -> TensorView {
        TensorView {
            data: self.bytes.as_mut_ptr() as *mut c_void,
            device: Device::CPU,
            ndim: self.shape.len() as i32,
            dtype: self.dtype,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
            byte_offset: 0,
        }
    }
    fn read(&self) -> Vec<f64> {
        self.bytes.chunks(8).map(|c| f64::from_ne_bytes(c.try_into().unwrap())).collect()
    }
}

#[test]
fn abi_kernel_reads_mask_dtype() {
    let [q, k, v, _] = c02_inputs();
    let (q, k, v) = (q.unwrap(), k.unwrap(), v.unwrap());
    let zeros = Array::zeros(&[3, 3]);
    let attrs = [AttrValue::NONE, AttrValue::NONE];
    let run = |mask: Owned| -> Vec<f64> {
        let mut bufs = [Owned::f64s(&q), Owned::f64s(&k), Owned::f64s(&v), mask];
        let ins: Vec<TensorView> = bufs.iter_mut().map(|b| b.view()).collect();
        let mut out = Owned::f64s(&Array::zeros(&[3, 2]));
        let outs = [out.view()];
        let rc = unsafe { SDPA::forward(std::ptr::null(), ins.as_ptr(), 4, outs.as_ptr(), 1, attrs.as_ptr(), 2) };
        assert_eq!(rc, 0);
        out.read()
    };
    // A bool mask of zeros masks everything; a float mask of zeros changes nothing.
    assert_eq!(run(Owned::bools(&zeros)), vec![0.0; 6]);
    let plain = sdpa_forward_float_mask(&[Some(q.clone()), Some(k.clone()), Some(v.clone()), None], &Attrs::default()).unwrap();
    assert_close("float zeros", &run(Owned::f64s(&zeros)), &plain[0].data, 1e-15);

    // Backward through the ABI with the C02 bool mask: layout (dO, q, k, v, mask, out).
    let mask = c02_inputs()[3].clone().unwrap();
    let fwd = sdpa_forward_bool_mask(&c02_inputs(), &Attrs::default()).unwrap().remove(0);
    let mut bufs = [
        Owned::f64s(&Array::full(&[3, 2], 1.0)),
        Owned::f64s(&q),
        Owned::f64s(&k),
        Owned::f64s(&v),
        Owned::bools(&mask),
        Owned::f64s(&fwd),
    ];
    let ins: Vec<TensorView> = bufs.iter_mut().map(|b| b.view()).collect();
    let mut grads = [Owned::f64s(&Array::zeros(&[3, 2])), Owned::f64s(&Array::zeros(&[3, 2])), Owned::f64s(&Array::zeros(&[3, 2]))];
    let mut outs: Vec<TensorView> = grads.iter_mut().map(|g| g.view()).collect();
    outs.push(TensorView::ABSENT);
    let rc = unsafe { SDPA::backward(std::ptr::null(), ins.as_ptr(), 6, outs.as_ptr(), 4, attrs.as_ptr(), 2) };
    assert_eq!(rc, 0);
    assert_close("abi dQ", &grads[0].read(), &[1.251189, -1.251189, 0.0, 0.0, -0.625594, 0.625594], 1e-5);
    assert_close("abi dV", &grads[2].read(), &[1.0, 1.0, 0.330238, 0.330238, 0.669762, 0.669762], 1e-5);
}

/// Naive attention: per row, softmax over the attendable keys without max subtraction.
fn naive(q: &Array, k: &Array, v: &Array, m: Option<&Array>, kind: MaskKind, causal: bool, scale: f64) -> Vec<f64> {
    let r = q.ndim();
    let (l, e, s, ev) = (q.shape[r - 2], q.shape[r - 1], k.shape[r - 2], v.shape[r - 1]);
    let full = [q.shape[..r - 2].to_vec(), vec![l, s]].concat();
    let nb: usize = q.shape[..r - 2].iter().product();
    let mut out = vec![];
    for b in 0..nb {
        for i in 0..l {
            let mut w = vec![0.0; s];
            for (j, wj) in w.iter_mut().enumerate() {
                let dot: f64 = (0..e).map(|t| q.data[(b * l + i) * e + t] * k.data[(b * s + j) * e + t]).sum();
                let mv = m.map(|m| m.data[broadcast_index(&unravel((b * l + i) * s + j, &full), &m.shape)]);
                let causal_ok = !causal || j <= i;
                let mask_ok = kind != MaskKind::Bool || mv != Some(0.0);
                let keep = causal_ok && mask_ok;
                let add = if kind == MaskKind::Float { mv.unwrap_or(0.0) } else { 0.0 };
                *wj = if keep { (dot * scale + add).exp() } else { 0.0 };
            }
            let z: f64 = w.iter().sum();
            for t in 0..ev {
                let o: f64 = (0..s).map(|j| w[j] * v.data[(b * s + j) * ev + t]).sum();
                out.push(if z > 0.0 { o / z } else { 0.0 });
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sdpa_matches_naive_and_fd(
        batch in prop::collection::vec(1usize..3, 0..3), l in 1usize..4, s in 1usize..5, e in 1usize..4, ev in 1usize..4,
        mask_kind in 0u8..3, drop in 0usize..3, ones in any::<u8>(), kill_row in any::<bool>(), causal in any::<bool>(),
        explicit_scale in any::<bool>(), seed in 0u64..10_000,
    ) {
        let mut r = Rng::new(seed);
        let q = r.array(&[batch.clone(), vec![l, e]].concat());
        let k = r.array(&[batch.clone(), vec![s, e]].concat());
        let v = r.array(&[batch.clone(), vec![s, ev]].concat());
        let target = [batch.clone(), vec![l, s]].concat();
        let ms: Vec<usize> = target[drop.min(batch.len())..].iter().enumerate().map(|(i, &d)| if ones >> i & 1 == 1 { 1 } else { d }).collect();
        let kind = if mask_kind == 2 { MaskKind::Float } else { MaskKind::Bool };
        let mask = (mask_kind > 0).then(|| {
            let n: usize = ms.iter().product();
            let mut data: Vec<f64> = (0..n)
                .map(|_| match kind {
                    MaskKind::Bool => (r.unit() > 0.3) as u8 as f64,
                    MaskKind::Float => if r.unit() < 0.2 { f64::NEG_INFINITY } else { r.sym() },
                })
                .collect();
            if kill_row {
                // Mask out every key of the mask's first row (a fully masked query row).
                let sd = ms[ms.len() - 1];
                let off = if kind == MaskKind::Bool { 0.0 } else { f64::NEG_INFINITY };
                data[..sd].iter_mut().for_each(|x| *x = off);
            }
            Array::new(ms.clone(), data).unwrap()
        });
        let scale = if explicit_scale { 0.3 + r.unit() } else { f64::NAN };
        let at = Attrs(vec![Attr::Bool(causal), Attr::Float(scale)]);
        let ins = [Some(q.clone()), Some(k.clone()), Some(v.clone()), mask.clone()];
        let out = sdpa_forward(&ins, &at, kind).unwrap();
        let sc = if scale.is_nan() { 1.0 / (e as f64).sqrt() } else { scale };
        assert_close("sdpa", &out[0].data, &naive(&q, &k, &v, mask.as_ref(), kind, causal, sc), 1e-12);
        check_grads(|i, a| sdpa_forward(i, a, kind), |b| sdpa_backward(b, kind), &ins, &at, &[0, 1, 2], &[0], seed);
    }
}
