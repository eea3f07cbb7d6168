//! Tensors crossing the plugin boundary: DLPack `DLTensor` views and shape-only metadata.

use super::dtype::{DType, Device};
use abi_stable::StableAbi;
use std::ffi::c_void;

/// Most dimensions a [`TensorMeta`] can describe (shape functions and handle queries).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::view::{TensorMeta, MAX_NDIM};
/// assert!(TensorMeta::new(ferrite_sdk::DType::F32, &[1; MAX_NDIM]).is_ok());
/// assert!(TensorMeta::new(ferrite_sdk::DType::F32, &[1; MAX_NDIM + 1]).unwrap_err().contains("at most 8"));
/// ```
pub const MAX_NDIM: usize = 8;

/// A non-owning view of a tensor, field for field DLPack's `DLTensor` (48 bytes).
///
/// * `shape` and `strides` point to `ndim` elements each, owned by the core and valid for the
///   duration of the call; `strides` is **always filled** and counts elements, not bytes.
/// * The first element is at `data + byte_offset`.
/// * An *absent* optional input (or a gradient the core did not ask for) has `data == null`;
///   present tensors always have a non-null `data`, even with zero elements.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::view::TensorView, DType, Device};
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let (shape, strides) = ([2i64, 3], [3i64, 1]);
/// let v = TensorView {
///     data: data.as_ptr() as *mut _,
///     device: Device::CPU,
///     ndim: 2,
///     dtype: DType::F32,
///     shape: shape.as_ptr(),
///     strides: strides.as_ptr(),
///     byte_offset: 0,
/// };
/// assert!(v.is_present() && !TensorView::ABSENT.is_present());
/// assert_eq!(unsafe { ferrite_sdk::kernel::io::read_f64(&v) }, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct TensorView {
    /// Base pointer of the allocation (not yet offset).
    pub data: *mut c_void,
    /// Device the memory lives on.
    pub device: Device,
    /// Number of dimensions.
    pub ndim: i32,
    /// Element type.
    pub dtype: DType,
    /// `ndim` sizes.
    pub shape: *const i64,
    /// `ndim` strides, in elements.
    pub strides: *const i64,
    /// Offset of the first element from `data`, in bytes.
    pub byte_offset: u64,
}

const _: () = assert!(std::mem::size_of::<TensorView>() == 48);

impl TensorView {
    /// The view used for an absent optional tensor.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// // An absent optional input: null data, no dims.
    /// assert!(!TensorView::ABSENT.is_present());
    /// assert_eq!(unsafe { TensorView::ABSENT.shape() }, &[] as &[i64]);
    /// ```
    pub const ABSENT: TensorView = TensorView {
        data: std::ptr::null_mut(),
        device: Device::CPU,
        ndim: 0,
        dtype: DType::F32,
        shape: std::ptr::null(),
        strides: std::ptr::null(),
        byte_offset: 0,
    };

    /// True unless this is the absent marker.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// let x = [0f32; 1];
    /// let v = TensorView { data: x.as_ptr() as *mut _, ..TensorView::ABSENT }; // a present 0-d f32
    /// assert!(v.is_present() && !TensorView::ABSENT.is_present());
    /// ```
    pub fn is_present(&self) -> bool {
        !self.data.is_null()
    }

    /// Sizes of each dimension.
    ///
    /// # Safety
    /// `shape` must point to `ndim` valid elements (guaranteed by the core during a call).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// let (x, shape, strides) = ([0f32; 6], [2i64, 3], [3i64, 1]);
    /// let v = TensorView { data: x.as_ptr() as *mut _, ndim: 2, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
    /// // SAFETY: `shape` and `strides` hold `ndim` elements and outlive `v`.
    /// assert_eq!(unsafe { v.shape() }, &[2, 3]);
    /// ```
    pub unsafe fn shape(&self) -> &[i64] {
        if self.ndim <= 0 || self.shape.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(self.shape, self.ndim as usize)
        }
    }

    /// Strides of each dimension, in elements.
    ///
    /// # Safety
    /// As for [`TensorView::shape`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// // The transpose of a row-major [3, 2] as a [2, 3] view: strides swap.
    /// let (x, shape, strides) = ([0f32; 6], [2i64, 3], [1i64, 2]);
    /// let t = TensorView { data: x.as_ptr() as *mut _, ndim: 2, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
    /// // SAFETY: as above.
    /// assert_eq!(unsafe { t.strides() }, &[1, 2]);
    /// ```
    pub unsafe fn strides(&self) -> &[i64] {
        if self.ndim <= 0 || self.strides.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(self.strides, self.ndim as usize)
        }
    }

    /// Number of elements (1 for a 0-d tensor).
    ///
    /// # Safety
    /// As for [`TensorView::shape`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// let (x, shape, strides) = ([0f32; 6], [2i64, 3], [3i64, 1]);
    /// let v = TensorView { data: x.as_ptr() as *mut _, ndim: 2, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
    /// let scalar = TensorView { data: x.as_ptr() as *mut _, ..TensorView::ABSENT };
    /// // SAFETY: as above.
    /// assert_eq!(unsafe { (v.numel(), scalar.numel()) }, (6, 1));
    /// ```
    pub unsafe fn numel(&self) -> usize {
        self.shape().iter().map(|&d| d.max(0) as usize).product()
    }

    /// True when the strides are those of a compact row-major layout (size-1 dims ignored).
    ///
    /// # Safety
    /// As for [`TensorView::shape`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// let (x, shape) = ([0f32; 6], [2i64, 3]);
    /// let (row_major, transposed) = ([3i64, 1], [1i64, 2]);
    /// let view = |s: &[i64]| TensorView { data: x.as_ptr() as *mut _, ndim: 2, shape: shape.as_ptr(), strides: s.as_ptr(), ..TensorView::ABSENT };
    /// // SAFETY: as above.
    /// unsafe {
    ///     assert!(view(&row_major).is_contiguous());
    ///     assert!(!view(&transposed).is_contiguous());
    /// }
    /// ```
    pub unsafe fn is_contiguous(&self) -> bool {
        let mut expected = 1i64;
        for (&d, &s) in self.shape().iter().zip(self.strides()).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Pointer to the first element (`data + byte_offset`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::view::TensorView;
    /// let x = [1f32, 2.0, 3.0];
    /// // Element 2 as a 0-d view: the offset is in bytes.
    /// let v = TensorView { data: x.as_ptr() as *mut _, byte_offset: 8, ..TensorView::ABSENT };
    /// assert_eq!(unsafe { *(v.ptr() as *const f32) }, 3.0);
    /// ```
    pub fn ptr(&self) -> *mut u8 {
        (self.data as *mut u8).wrapping_add(self.byte_offset as usize)
    }
}

/// Shape and dtype of a tensor without data: what a shape function produces per output and what
/// the host reports about a tensor handle. At most [`MAX_NDIM`] dimensions.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{abi::view::TensorMeta, DType};
/// let m = TensorMeta::new(DType::F32, &[2, 3]).unwrap();
/// assert_eq!(m.dims(), vec![2, 3]);
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct TensorMeta {
    /// Element type.
    pub dtype: DType,
    /// Number of valid entries in `shape`.
    pub ndim: u32,
    /// Sizes; entries past `ndim` are ignored.
    pub shape: [i64; MAX_NDIM],
}

impl TensorMeta {
    /// Builds metadata from a shape; errors if it has more than [`MAX_NDIM`] dimensions.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::view::TensorMeta, DType};
    /// let m = TensorMeta::new(DType::BF16, &[4, 5]).unwrap();
    /// assert_eq!((m.dtype, m.ndim, &m.shape[..2]), (DType::BF16, 2, &[4i64, 5][..]));
    /// ```
    pub fn new(dtype: DType, shape: &[usize]) -> Result<TensorMeta, String> {
        if shape.len() > MAX_NDIM {
            return Err(format!("tensor has {} dimensions; at most {MAX_NDIM} are supported", shape.len()));
        }
        let mut s = [0i64; MAX_NDIM];
        for (o, &d) in s.iter_mut().zip(shape) {
            *o = d as i64;
        }
        Ok(TensorMeta { dtype, ndim: shape.len() as u32, shape: s })
    }

    /// The valid sizes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::view::TensorMeta, DType};
    /// assert_eq!(TensorMeta::new(DType::F32, &[]).unwrap().dims(), Vec::<usize>::new()); // 0-d
    /// ```
    pub fn dims(&self) -> Vec<usize> {
        self.shape[..self.ndim as usize].iter().map(|&d| d as usize).collect()
    }
}
