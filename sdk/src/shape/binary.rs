//! Shape function of the broadcasting arithmetic ops (`add`, `sub`, `mul`, `div`, `pow`).

use super::req;
use crate::kernel::array::broadcast_shapes;
use crate::kernel::{Attrs, Meta};

/// Shape function of the arithmetic ops: broadcast shape, dtype of `input` (both operands must
/// share it).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attrs, Meta};
/// use ferrite_sdk::{shape::binary::arith_shape, DType};
/// let (a, b) = (Meta::new(DType::F32, vec![4, 1, 3]), Meta::new(DType::F32, vec![5, 1]));
/// assert_eq!(arith_shape(&[Some(a.clone()), Some(b)], &Attrs(vec![])).unwrap()[0].shape, vec![4, 5, 3]); // NumPy broadcasting
/// let c = Meta::new(DType::F64, vec![3]);
/// assert!(arith_shape(&[Some(a), Some(c)], &Attrs(vec![])).unwrap_err().contains("dtypes differ"));
/// ```
pub fn arith_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (a, b) = (req(ins, 0)?, req(ins, 1)?);
    if a.dtype != b.dtype {
        return Err(format!("binary op: dtypes differ ({} vs {})", a.dtype.name(), b.dtype.name()));
    }
    Ok(vec![Meta::new(a.dtype, broadcast_shapes(&a.shape, &b.shape)?)])
}
