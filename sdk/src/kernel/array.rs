//! [`Array`]: a row-major f64 buffer with a shape, the working type of reference kernels.

/// A dense row-major array of f64 values with a shape (`[]` is a scalar with one value).
///
/// Reference kernels (ops-ref and any plugin that uses [`super::reference`]) read every input
/// into an `Array`, compute in f64, and have the result rounded once to the output dtype.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::Array;
/// let a = Array::new(vec![2, 3], (0..6).map(f64::from).collect()).unwrap();
/// assert_eq!((a.numel(), a.ndim()), (6, 2));
/// assert_eq!(a.strides(), vec![3, 1]);
/// assert_eq!(a.at(&[1, 2]), 5.0);
/// assert!(Array::new(vec![2], vec![1.0]).is_err());
/// assert_eq!(Array::scalar(3.0).shape, Vec::<usize>::new());
/// assert_eq!(Array::full(&[2], 1.5).data, vec![1.5, 1.5]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Sizes of each dimension.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in row-major order.
    pub data: Vec<f64>,
}

impl Array {
    /// Builds an array; errors if `data.len()` does not match the shape.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// let a = Array::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(a.at(&[1, 0]), 3.0);
    /// assert!(Array::new(vec![3], vec![1.0]).is_err());
    /// ```
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Result<Array, String> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(format!("shape {shape:?} needs {n} values, got {}", data.len()));
        }
        Ok(Array { shape, data })
    }

    /// An array of zeros.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// let z = Array::zeros(&[2, 3]);
    /// assert_eq!((z.shape.clone(), z.data.iter().sum::<f64>()), (vec![2, 3], 0.0));
    /// ```
    pub fn zeros(shape: &[usize]) -> Array {
        Array { shape: shape.to_vec(), data: vec![0.0; shape.iter().product()] }
    }

    /// An array filled with `v`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// assert_eq!(Array::full(&[3], -1.0).data, vec![-1.0; 3]);
    /// ```
    pub fn full(shape: &[usize], v: f64) -> Array {
        Array { shape: shape.to_vec(), data: vec![v; shape.iter().product()] }
    }

    /// A 0-d array holding `v`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// let s = Array::scalar(2.5);
    /// assert_eq!((s.ndim(), s.numel(), s.at(&[])), (0, 1, 2.5));
    /// ```
    pub fn scalar(v: f64) -> Array {
        Array { shape: vec![], data: vec![v] }
    }

    /// Number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// assert_eq!(Array::zeros(&[2, 3, 4]).numel(), 24);
    /// assert_eq!(Array::zeros(&[0, 5]).numel(), 0);
    /// ```
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Number of dimensions.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// assert_eq!(Array::zeros(&[2, 3, 4]).ndim(), 3);
    /// ```
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Row-major strides in elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// assert_eq!(Array::zeros(&[2, 3, 4]).strides(), vec![12, 4, 1]);
    /// ```
    pub fn strides(&self) -> Vec<usize> {
        contiguous_strides(&self.shape)
    }

    /// Flat offset of a multi-index (no bounds check beyond debug assertions).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// let a = Array::zeros(&[2, 3, 4]);
    /// assert_eq!(a.offset(&[1, 2, 3]), 12 + 2 * 4 + 3);
    /// ```
    pub fn offset(&self, idx: &[usize]) -> usize {
        debug_assert_eq!(idx.len(), self.shape.len());
        let mut off = 0;
        for (i, &d) in idx.iter().zip(&self.shape) {
            debug_assert!(*i < d);
            off = off * d + i;
        }
        off
    }

    /// Element at a multi-index.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::Array;
    /// let a = Array::new(vec![2, 3], (0..6).map(f64::from).collect()).unwrap();
    /// assert_eq!(a.at(&[1, 1]), 4.0);
    /// ```
    pub fn at(&self, idx: &[usize]) -> f64 {
        self.data[self.offset(idx)]
    }
}

/// Row-major strides of a shape, in elements.
///
/// # Examples
///
/// ```
/// assert_eq!(ferrite_sdk::kernel::array::contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
/// ```
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Multi-index of flat position `flat` in a row-major `shape`.
///
/// # Examples
///
/// ```
/// assert_eq!(ferrite_sdk::kernel::array::unravel(5, &[2, 3]), vec![1, 2]);
/// ```
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
    }
    idx
}

/// NumPy/PyTorch broadcast of two shapes (align right; sizes equal or one of them 1).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::array::broadcast_shapes;
/// assert_eq!(broadcast_shapes(&[4, 1, 3], &[5, 1]).unwrap(), vec![4, 5, 3]);
/// assert!(broadcast_shapes(&[2], &[3]).is_err());
/// ```
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("shapes {a:?} and {b:?} cannot be broadcast (dim {i}: {da} vs {db})"));
        };
    }
    Ok(out)
}

/// Flat index into an array of shape `src` for the multi-index `idx` of the broadcast shape
/// (dimensions of size 1 in `src` repeat).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::array::broadcast_index;
/// // A `[3, 1]` source broadcast to `[2, 3, 4]`: index (1, 2, 3) reads source row 2.
/// assert_eq!(broadcast_index(&[1, 2, 3], &[3, 1]), 2);
/// assert_eq!(broadcast_index(&[1, 2], &[2, 3]), 5);
/// ```
pub fn broadcast_index(idx: &[usize], src: &[usize]) -> usize {
    let lead = idx.len() - src.len();
    let mut off = 0;
    for (d, &s) in src.iter().enumerate() {
        let i = if s == 1 { 0 } else { idx[lead + d] };
        off = off * s + i;
    }
    off
}

/// Sums `grad` (of the broadcast shape) back to `shape`: the gradient rule of broadcasting.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{array::sum_to_shape, Array};
/// let g = Array::full(&[4, 3], 1.0);
/// assert_eq!(sum_to_shape(&g, &[3]).data, vec![4.0, 4.0, 4.0]);
/// ```
pub fn sum_to_shape(grad: &Array, shape: &[usize]) -> Array {
    let mut out = Array::zeros(shape);
    for (flat, &g) in grad.data.iter().enumerate() {
        let idx = unravel(flat, &grad.shape);
        out.data[broadcast_index(&idx, shape)] += g;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_reduce_back() {
        assert_eq!(broadcast_shapes(&[2, 1], &[1, 3]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_shapes(&[3], &[2, 3]).unwrap(), vec![2, 3]);
        assert!(broadcast_shapes(&[2], &[3]).is_err());
        let g = Array::full(&[2, 3], 1.0);
        assert_eq!(sum_to_shape(&g, &[1, 3]).data, vec![2.0; 3]);
        assert_eq!(sum_to_shape(&g, &[2, 1]).data, vec![3.0; 2]);
        assert_eq!(sum_to_shape(&g, &[]).data, vec![6.0]);
    }
}
