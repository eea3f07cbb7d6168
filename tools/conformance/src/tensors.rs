//! Building core tensors from generated [`Input`]s: values in a dtype, laid out as the case says
//! (compact, transposed, strided slice with junk in the gaps, stride-0 broadcast).

use crate::case::{Input, Kind};
use crate::gen::{numel, Layout};
use ferrite_core::{Result, Tensor};
use ferrite_sdk::DType;

/// The storage dtype of `input` when the kernel under test has dtype `kernel`.
pub fn dtype_for(input: &Input, kernel: DType) -> DType {
    match input.kind {
        Kind::Float | Kind::Distinct => kernel,
        Kind::I64 => DType::I64,
        Kind::Bool => DType::BOOL,
    }
}

fn i64s(s: &[usize]) -> Vec<i64> {
    s.iter().map(|&d| d as i64).collect()
}

/// What a skipped (junk) element holds: NaN for floats, an out-of-range index, true.
fn junk(dtype: DType) -> f64 {
    if dtype.is_float() {
        f64::NAN
    } else if dtype == DType::BOOL {
        1.0
    } else if dtype == DType::I64 {
        (i64::MAX / 4) as f64
    } else {
        1e6
    }
}

/// A tensor of `data` (logical row-major values) with `shape` in `dtype`, laid out as `layout`.
pub fn make(data: &[f64], shape: &[usize], dtype: DType, layout: Layout) -> Result<Tensor> {
    let nd = shape.len();
    let n = numel(shape);
    let layout = match layout {
        Layout::Transposed if nd < 2 => Layout::Sliced,
        l => l,
    };
    match layout {
        Layout::Transposed if n > 0 => {
            let (r, c) = (shape[nd - 2], shape[nd - 1]);
            let mut bshape = shape.to_vec();
            bshape.swap(nd - 2, nd - 1);
            let mut b = vec![0.0; n];
            for bi in 0..n / (r * c) {
                for i in 0..r {
                    for j in 0..c {
                        b[bi * r * c + j * r + i] = data[bi * r * c + i * c + j];
                    }
                }
            }
            let mut perm: Vec<usize> = (0..nd).collect();
            perm.swap(nd - 2, nd - 1);
            Tensor::from_f64(&i64s(&bshape), &b, dtype)?.permute_view(&perm)
        }
        Layout::Sliced if nd >= 1 && n > 0 => {
            let last = shape[nd - 1];
            let bl = 2 * last + 1;
            let outer = n / last;
            let mut b = vec![junk(dtype); outer * bl];
            for o in 0..outer {
                for j in 0..last {
                    b[o * bl + 1 + 2 * j] = data[o * last + j];
                }
            }
            let mut bshape = shape.to_vec();
            bshape[nd - 1] = bl;
            Tensor::from_f64(&i64s(&bshape), &b, dtype)?.slice_view(nd - 1, 1, bl, 2)
        }
        Layout::Expanded if nd >= 1 && n > 0 => {
            let inner = n / shape[0];
            let mut one = shape.to_vec();
            one[0] = 1;
            let target: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
            Tensor::from_f64(&i64s(&one), &data[..inner], dtype)?.expand_view(&target)
        }
        _ => Tensor::from_f64(&i64s(shape), data, dtype),
    }
}

/// `input` as the kernel under test sees it (dtype of the kernel for float inputs, its layout).
pub fn for_kernel(input: &Input, kernel: DType) -> Result<Tensor> {
    make(&input.data, &input.shape, dtype_for(input, kernel), input.layout)
}

/// `input` as the reference sees it: compact, float values in `ref_dtype`.
pub fn for_reference(input: &Input, ref_dtype: DType) -> Result<Tensor> {
    make(&input.data, &input.shape, dtype_for(input, ref_dtype), Layout::Contig)
}

/// Values of `data` after a round trip through `dtype` (what a kernel of that dtype reads).
pub fn round_to(data: &[f64], dtype: DType) -> Vec<f64> {
    if dtype == DType::F64 {
        return data.to_vec();
    }
    match Tensor::from_f64(&[data.len() as i64], data, dtype) {
        Ok(t) => t.to_f64_vec(),
        Err(_) => data.to_vec(),
    }
}
