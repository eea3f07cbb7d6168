//! Shape function of the broadcasting arithmetic ops (`add`, `sub`, `mul`, `div`, `pow`).

use super::req;
use crate::kernel::array::broadcast_shapes;
use crate::kernel::{Attrs, Meta};

/// Shape function of the arithmetic ops: broadcast shape, dtype of `input` (both operands must
/// share it).
pub fn arith_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (a, b) = (req(ins, 0)?, req(ins, 1)?);
    if a.dtype != b.dtype {
        return Err(format!("binary op: dtypes differ ({} vs {})", a.dtype.name(), b.dtype.name()));
    }
    Ok(vec![Meta::new(a.dtype, broadcast_shapes(&a.shape, &b.shape)?)])
}
