//! Element-wise reductions over raw native-endian bytes, for every Ferrite dtype.
//!
//! Semantics follow PyTorch's c10d backends (Gloo/NCCL):
//! * floats (f32, f64): IEEE arithmetic in the dtype itself; `max`/`min` propagate NaN
//!   (`torch.maximum`);
//! * f16, bf16: each pairwise reduction is computed in f32 and rounded once to the dtype
//!   (the DESIGN rule "reduced precision accumulates in f32");
//! * integers (i64, i32, u8): two's-complement wrapping sums (what Gloo/NCCL's C++ `+` does);
//! * bool: ProcessGroupNCCL maps `SUM`/`MAX` on bool to logical **or** and `MIN` to logical
//!   **and**, and refuses `AVG`; we do the same and write 0/1.
//!
//! `AVG` reduces with `SUM` and then [`divide`]s by the world size once, on float dtypes only.

use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;
use half::{bf16, f16};

/// A validated reduction operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Element-wise sum (logical or for bool).
    Sum,
    /// Sum, then divide by the world size (float dtypes only).
    Avg,
    /// Element-wise maximum (logical or for bool).
    Max,
    /// Element-wise minimum (logical and for bool).
    Min,
}

/// Checks `dtype`, the [`reduce_op`] code and that `bytes` holds whole elements.
///
/// # Errors
/// An unsupported dtype, an unknown op code, `AVG` on a non-float dtype, or a byte length
/// that is not a multiple of the element size.
pub fn validate(dtype: DType, op: u32, bytes: usize) -> Result<Op, String> {
    if !DType::ALL.contains(&dtype) {
        return Err(format!("unsupported dtype (code {}, {} bits)", dtype.code, dtype.bits));
    }
    let op = match op {
        reduce_op::SUM => Op::Sum,
        reduce_op::AVG => Op::Avg,
        reduce_op::MAX => Op::Max,
        reduce_op::MIN => Op::Min,
        other => return Err(format!("unknown reduce op {other} (sum=0, avg=1, max=2, min=3)")),
    };
    if op == Op::Avg && !dtype.is_float() {
        return Err(format!("ReduceOp.AVG needs a float dtype, got {}", dtype));
    }
    if !bytes.is_multiple_of(dtype.size()) {
        return Err(format!("{bytes} bytes is not a whole number of {} elements ({} bytes each)", dtype, dtype.size()));
    }
    Ok(op)
}

fn fmax<T: PartialOrd + Copy>(a: T, b: T, nan: fn(T) -> bool) -> T {
    if nan(a) {
        a
    } else if nan(b) || b > a {
        b
    } else {
        a
    }
}

fn fmin<T: PartialOrd + Copy>(a: T, b: T, nan: fn(T) -> bool) -> T {
    if nan(a) {
        a
    } else if nan(b) || b < a {
        b
    } else {
        a
    }
}

/// Applies `f` to each element pair, `acc[i] = f(acc[i], other[i])`, through `load`/`store`.
fn zip<const S: usize, C>(acc: &mut [u8], other: &[u8], load: fn([u8; S]) -> C, store: fn(C) -> [u8; S], f: impl Fn(C, C) -> C) {
    for (a, b) in acc.chunks_exact_mut(S).zip(other.chunks_exact(S)) {
        let x = load(a.try_into().expect("chunks_exact gives S bytes"));
        let y = load(b.try_into().expect("chunks_exact gives S bytes"));
        a.copy_from_slice(&store(f(x, y)));
    }
}

macro_rules! float_op {
    ($acc:expr, $other:expr, $op:expr, $S:literal, $load:expr, $store:expr, $C:ty) => {{
        let nan: fn($C) -> bool = |v| v.is_nan();
        match $op {
            Op::Sum | Op::Avg => zip::<$S, $C>($acc, $other, $load, $store, |a, b| a + b),
            Op::Max => zip::<$S, $C>($acc, $other, $load, $store, |a, b| fmax(a, b, nan)),
            Op::Min => zip::<$S, $C>($acc, $other, $load, $store, |a, b| fmin(a, b, nan)),
        }
    }};
}

macro_rules! int_op {
    ($acc:expr, $other:expr, $op:expr, $T:ty, $S:literal) => {{
        let (load, store): (fn([u8; $S]) -> $T, fn($T) -> [u8; $S]) = (<$T>::from_ne_bytes, <$T>::to_ne_bytes);
        match $op {
            Op::Sum | Op::Avg => zip::<$S, $T>($acc, $other, load, store, |a, b| a.wrapping_add(b)),
            Op::Max => zip::<$S, $T>($acc, $other, load, store, |a, b| a.max(b)),
            Op::Min => zip::<$S, $T>($acc, $other, load, store, |a, b| a.min(b)),
        }
    }};
}

/// In place `acc[i] = op(acc[i], other[i])` over elements of `dtype`.
///
/// # Errors
/// `acc` and `other` of different lengths, or a dtype outside [`DType::ALL`] (callers
/// [`validate`] first).
pub fn combine(acc: &mut [u8], other: &[u8], dtype: DType, op: Op) -> Result<(), String> {
    if acc.len() != other.len() {
        return Err(format!("reduction of {} bytes with {} bytes", acc.len(), other.len()));
    }
    match dtype {
        DType::F32 => float_op!(acc, other, op, 4, f32::from_ne_bytes, f32::to_ne_bytes, f32),
        DType::F64 => float_op!(acc, other, op, 8, f64::from_ne_bytes, f64::to_ne_bytes, f64),
        DType::F16 => float_op!(acc, other, op, 2, |b| f16::from_ne_bytes(b).to_f32(), |v| f16::from_f32(v).to_ne_bytes(), f32),
        DType::BF16 => {
            float_op!(acc, other, op, 2, |b| bf16::from_ne_bytes(b).to_f32(), |v| bf16::from_f32(v).to_ne_bytes(), f32)
        }
        DType::I64 => int_op!(acc, other, op, i64, 8),
        DType::I32 => int_op!(acc, other, op, i32, 4),
        DType::U8 => int_op!(acc, other, op, u8, 1),
        DType::BOOL => {
            // Any non-zero byte is true; results are written as 0/1.
            let load: fn([u8; 1]) -> bool = |b| b[0] != 0;
            let store: fn(bool) -> [u8; 1] = |v| [v as u8];
            match op {
                Op::Sum | Op::Avg | Op::Max => zip::<1, bool>(acc, other, load, store, |a, b| a | b),
                Op::Min => zip::<1, bool>(acc, other, load, store, |a, b| a & b),
            }
        }
        other => return Err(format!("unsupported dtype (code {}, {} bits)", other.code, other.bits)),
    }
    Ok(())
}

/// In place `buf[i] /= n` for `AVG` (f32 compute for f16/bf16, rounded once).
///
/// # Errors
/// A non-float dtype.
pub fn divide(buf: &mut [u8], dtype: DType, n: u32) -> Result<(), String> {
    fn each<const S: usize>(buf: &mut [u8], f: impl Fn([u8; S]) -> [u8; S]) {
        for e in buf.chunks_exact_mut(S) {
            let v = f(e.try_into().expect("chunks_exact gives S bytes"));
            e.copy_from_slice(&v);
        }
    }
    let nf = n as f32;
    match dtype {
        DType::F32 => each::<4>(buf, |b| (f32::from_ne_bytes(b) / nf).to_ne_bytes()),
        DType::F64 => each::<8>(buf, |b| (f64::from_ne_bytes(b) / n as f64).to_ne_bytes()),
        DType::F16 => each::<2>(buf, |b| f16::from_f32(f16::from_ne_bytes(b).to_f32() / nf).to_ne_bytes()),
        DType::BF16 => each::<2>(buf, |b| bf16::from_f32(bf16::from_ne_bytes(b).to_f32() / nf).to_ne_bytes()),
        other => return Err(format!("ReduceOp.AVG needs a float dtype, got {other}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<T: Copy, const S: usize>(v: &[T], f: fn(T) -> [u8; S]) -> Vec<u8> {
        v.iter().flat_map(|&x| f(x)).collect()
    }

    #[test]
    fn integer_sums_wrap_like_cpp() {
        let mut a = vec![200u8, 3];
        combine(&mut a, &[100, 4], DType::U8, Op::Sum).unwrap();
        assert_eq!(a, vec![44, 7]);
        let mut a = bytes(&[i32::MAX, -5], i32::to_ne_bytes);
        combine(&mut a, &bytes(&[1, 2], i32::to_ne_bytes), DType::I32, Op::Sum).unwrap();
        assert_eq!(a, bytes(&[i32::MIN, -3], i32::to_ne_bytes));
    }

    #[test]
    fn bool_sum_is_or_min_is_and_and_writes_0_or_1() {
        let mut a = vec![0u8, 2, 0, 1];
        combine(&mut a, &[0, 0, 7, 1], DType::BOOL, Op::Sum).unwrap();
        assert_eq!(a, vec![0, 1, 1, 1]);
        let mut a = vec![0u8, 2, 0, 1];
        combine(&mut a, &[0, 0, 7, 1], DType::BOOL, Op::Min).unwrap();
        assert_eq!(a, vec![0, 0, 0, 1]);
    }

    #[test]
    fn f16_pair_sums_in_f32_and_rounds_once() {
        // 2048 + 1 is not representable in f16 (spacing 2 there); f32 gives 2049 which rounds
        // to even, 2048. 0.1 + 0.2 rounds once from the exact f32 sum.
        let h = |v: f32| f16::from_f32(v).to_ne_bytes();
        let mut a = bytes(&[2048.0f32, 0.1], h);
        combine(&mut a, &bytes(&[1.0f32, 0.2], h), DType::F16, Op::Sum).unwrap();
        let want = [f16::from_f32(2048.0), f16::from_f32(f16::from_f32(0.1).to_f32() + f16::from_f32(0.2).to_f32())];
        assert_eq!(a, want.iter().flat_map(|v| v.to_ne_bytes()).collect::<Vec<_>>());
    }

    #[test]
    fn float_max_min_propagate_nan() {
        let mut a = bytes(&[1.0f32, f32::NAN, 3.0], f32::to_ne_bytes);
        combine(&mut a, &bytes(&[f32::NAN, 2.0, 4.0], f32::to_ne_bytes), DType::F32, Op::Max).unwrap();
        let v: Vec<f32> = a.chunks(4).map(|c| f32::from_ne_bytes(c.try_into().unwrap())).collect();
        assert!(v[0].is_nan() && v[1].is_nan() && v[2] == 4.0);
    }

    #[test]
    fn validation_errors() {
        assert!(validate(DType::I64, reduce_op::AVG, 8).unwrap_err().contains("AVG"));
        assert!(validate(DType::F32, 7, 8).unwrap_err().contains("unknown reduce op 7"));
        assert!(validate(DType::F32, reduce_op::SUM, 6).unwrap_err().contains("6 bytes"));
        let odd = DType { code: 2, bits: 24, lanes: 1 };
        assert!(validate(odd, reduce_op::SUM, 6).unwrap_err().contains("unsupported dtype"));
        assert_eq!(validate(DType::BF16, reduce_op::AVG, 4), Ok(Op::Avg));
        assert!(divide(&mut [0u8; 4], DType::I32, 2).is_err());
        assert!(combine(&mut [0u8; 4], &[0u8; 8], DType::F32, Op::Sum).is_err());
    }
}
