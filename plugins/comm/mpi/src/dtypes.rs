//! Element types as MPI sees them, and the staging buffers collectives run on.
//!
//! f32/f64/i64/i32/u8 map to MPI's own datatypes. f16 and bf16 have no MPI datatype (MPI 4.1
//! has none either), so they travel as f32: widened before, rounded back after — the "reduce
//! in f32" rule of the design's numerics section, at twice the bytes on the wire.

use ferrite_sdk::abi::comm::reduce_op;
use ferrite_sdk::DType;
use half::{bf16, f16};
use mpi::ffi::{MPI_Datatype, MPI_Op};

/// How a dtype is carried: its MPI datatype and the size of one element on the wire.
#[derive(Clone, Copy)]
pub struct Wire {
    /// MPI datatype of one wire element.
    pub datatype: MPI_Datatype,
    /// Bytes per wire element (4 for f16/bf16, carried as f32).
    pub size: usize,
    /// Whether elements are widened to f32 for the wire.
    pub widened: bool,
}

/// The wire form of `dtype` for reductions.
///
/// # Errors
/// bool (MPI has no logical reduction on our 1-byte bools with SUM semantics) or an unknown dtype.
pub fn wire(dtype: DType) -> Result<Wire, String> {
    // SAFETY: the RSMPI_* constants are plain `extern const` handles set at link time.
    let (datatype, size, widened) = unsafe {
        match dtype {
            DType::F32 => (mpi::ffi::RSMPI_FLOAT, 4, false),
            DType::F64 => (mpi::ffi::RSMPI_DOUBLE, 8, false),
            DType::I64 => (mpi::ffi::RSMPI_INT64_T, 8, false),
            DType::I32 => (mpi::ffi::RSMPI_INT32_T, 4, false),
            DType::U8 => (mpi::ffi::RSMPI_UINT8_T, 1, false),
            DType::F16 | DType::BF16 => (mpi::ffi::RSMPI_FLOAT, 4, true),
            other => return Err(format!("dtype {other} is not supported by comm.mpi reductions (f32, f64, f16, bf16, i64, i32, u8)")),
        }
    };
    Ok(Wire { datatype, size, widened })
}

/// The MPI operator for a [`reduce_op`] code (AVG reduces with SUM and divides afterwards,
/// as `torch.distributed`'s Gloo backend does).
///
/// # Errors
/// An unknown code; AVG on a non-float dtype.
pub fn op(code: u32, dtype: DType) -> Result<MPI_Op, String> {
    if code == reduce_op::AVG && !dtype.is_float() {
        return Err(format!("ReduceOp.AVG needs a float dtype, got {dtype}"));
    }
    // SAFETY: link-time constant handles.
    unsafe {
        Ok(match code {
            reduce_op::SUM | reduce_op::AVG => mpi::ffi::RSMPI_SUM,
            reduce_op::MAX => mpi::ffi::RSMPI_MAX,
            reduce_op::MIN => mpi::ffi::RSMPI_MIN,
            _ => return Err(format!("unknown reduce op {code} (sum=0, avg=1, max=2, min=3)")),
        })
    }
}

/// Copies `buf` (elements of `dtype`) into a fresh wire buffer (widening f16/bf16 to f32).
pub fn to_wire(buf: &[u8], dtype: DType, w: Wire) -> Vec<u8> {
    if !w.widened {
        return buf.to_vec();
    }
    let mut out = Vec::with_capacity(buf.len() * 2);
    for c in buf.chunks_exact(2) {
        let bits = u16::from_ne_bytes([c[0], c[1]]);
        let v = if dtype == DType::BF16 { bf16::from_bits(bits).to_f32() } else { f16::from_bits(bits).to_f32() };
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out
}

/// Writes a wire buffer back into `buf` (rounding f32 to f16/bf16, nearest-even).
pub fn from_wire(wire_buf: &[u8], buf: &mut [u8], dtype: DType, w: Wire) {
    if !w.widened {
        buf.copy_from_slice(wire_buf);
        return;
    }
    for (c, o) in wire_buf.chunks_exact(4).zip(buf.chunks_exact_mut(2)) {
        let v = f32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        let bits = if dtype == DType::BF16 { bf16::from_f32(v).to_bits() } else { f16::from_f32(v).to_bits() };
        o.copy_from_slice(&bits.to_ne_bytes());
    }
}

/// Divides every float element of a wire buffer by `n` (the AVG step after a SUM).
pub fn divide(wire_buf: &mut [u8], w: Wire, n: u32) {
    if w.size == 8 {
        for c in wire_buf.chunks_exact_mut(8) {
            let v = f64::from_ne_bytes(c.try_into().expect("8-byte chunk")) / n as f64;
            c.copy_from_slice(&v.to_ne_bytes());
        }
    } else {
        for c in wire_buf.chunks_exact_mut(4) {
            let v = f32::from_ne_bytes(c.try_into().expect("4-byte chunk")) / n as f32;
            c.copy_from_slice(&v.to_ne_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_round_trips_through_the_f32_wire() {
        let vals = [1.0f32, -2.5, 384.0, 0.0078125];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| bf16::from_f32(*v).to_bits().to_ne_bytes()).collect();
        let w = wire(DType::BF16).unwrap();
        let mut on_wire = to_wire(&bytes, DType::BF16, w);
        assert_eq!(on_wire.len(), 16);
        divide(&mut on_wire, w, 2);
        let mut back = vec![0u8; bytes.len()];
        from_wire(&on_wire, &mut back, DType::BF16, w);
        let got: Vec<f32> = back.chunks_exact(2).map(|c| bf16::from_bits(u16::from_ne_bytes([c[0], c[1]])).to_f32()).collect();
        assert_eq!(got, vec![0.5, -1.25, 192.0, 0.00390625]);
    }

    #[test]
    fn avg_needs_floats_and_codes_are_checked() {
        assert!(op(reduce_op::AVG, DType::I32).unwrap_err().contains("AVG needs a float"));
        assert!(op(7, DType::F32).unwrap_err().contains("unknown reduce op 7"));
        assert!(op(reduce_op::MAX, DType::U8).is_ok());
        assert!(wire(DType::BOOL).is_err());
    }
}
