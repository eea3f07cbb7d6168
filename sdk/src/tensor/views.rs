//! Metadata (shape, dtype, device), reading values back, and view methods of [`Tensor`].

use super::{check, normalize_dim, Element, Tensor};
use crate::abi::dtype::{DType, Device};
use crate::abi::host::{view_kind, TensorHandle};
use crate::abi::view::TensorMeta;
use crate::error::Result;

impl Tensor {
    fn meta(&self) -> TensorMeta {
        let mut m = TensorMeta { dtype: DType::F32, ndim: 0, shape: [0; crate::abi::view::MAX_NDIM] };
        // A failure here (more than MAX_NDIM dims) leaves ndim 0; creation already rejects those.
        (self.api.meta)(self.h, &mut m);
        m
    }

    /// Sizes of each dimension.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?;
    /// assert_eq!(t.shape(), vec![2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn shape(&self) -> Vec<usize> {
        self.meta().dims()
    }

    /// Number of dimensions.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert_eq!(host.zeros(&[2, 3], DType::F32)?.dim(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dim(&self) -> usize {
        self.meta().ndim as usize
    }

    /// Size of dimension `d` (negative counts from the end).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3], DType::F32)?;
    /// assert_eq!(t.size(0)?, 2);
    /// assert_eq!(t.size(-1)?, 3);
    /// assert!(t.size(2).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn size(&self, d: isize) -> Result<usize> {
        let s = self.shape();
        let i = normalize_dim(d, s.len())?;
        Ok(s[i])
    }

    /// Number of elements.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert_eq!(host.zeros(&[2, 3], DType::F32)?.numel(), 6);
    /// # Ok(())
    /// # }
    /// ```
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// Element type.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert_eq!(host.zeros(&[1], DType::BF16)?.dtype(), DType::BF16);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dtype(&self) -> DType {
        self.meta().dtype
    }

    /// Device.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[1], DType::F32)?;
    /// assert_eq!(t.device().name(), "cpu");
    /// # Ok(())
    /// # }
    /// ```
    pub fn device(&self) -> Device {
        (self.api.device)(self.h)
    }

    /// Copies the elements out in row-major order as `T` (must be the tensor's dtype).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![1.0, 2.0]);
    /// assert!(t.to_vec::<f64>().is_err()); // wrong dtype
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_vec<T: Element + Default>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            crate::bail!("to_vec: tensor is {}, asked for {}", self.dtype(), T::DTYPE);
        }
        let mut v = vec![T::default(); self.numel()];
        check(self.api, (self.api.read)(self.h, v.as_mut_ptr() as *mut u8, std::mem::size_of_val(&v[..])))?;
        Ok(v)
    }

    /// Copies the elements out as f64 (any dtype).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1i32, 2], &[2])?;
    /// assert_eq!(t.to_vec_f64()?, vec![1.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        if self.dtype() == DType::F64 {
            self.to_vec::<f64>()
        } else {
            self.to_dtype(DType::F64)?.to_vec::<f64>()
        }
    }

    /// The single value of a one-element tensor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let loss = host.from_slice(&[1.0f32, 3.0], &[2])?.mean_all()?;
    /// assert_eq!(loss.item()?, 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            crate::bail!("item: tensor has {} elements, expected 1", self.numel());
        }
        Ok(self.to_vec_f64()?[0])
    }

    fn view_op(&self, kind: u32, args: &[i64]) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.view)(self.h, kind, args.as_ptr(), args.len(), &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// View with a new shape (one entry may be -1); copies only if the layout requires it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.arange(6, DType::F32)?.reshape(&[2, -1])?;
    /// assert_eq!(t.shape(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let args: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::RESHAPE, &args)
    }

    /// View with permuted dimensions.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?.permute(&[2, 0, 1])?;
    /// assert_eq!(t.shape(), vec![4, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let args: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::PERMUTE, &args)
    }

    /// Swaps two dimensions (negative counts from the end).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?.transpose(0, -1)?;
    /// assert_eq!(t.shape(), vec![4, 3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let n = self.dim();
        let (a, b) = (normalize_dim(d0, n)?, normalize_dim(d1, n)?);
        let mut p: Vec<usize> = (0..n).collect();
        p.swap(a, b);
        self.permute(&p)
    }

    /// Transpose of a 2-D tensor (`.t()`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let m = host.arange(6, DType::F32)?.reshape(&[2, 3])?;
    /// assert_eq!(m.t()?.shape(), vec![3, 2]);
    /// assert_eq!(m.t()?.contiguous()?.to_vec::<f32>()?, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn t(&self) -> Result<Tensor> {
        if self.dim() != 2 {
            crate::bail!("t(): expected a 2-D tensor, got {:?}", self.shape());
        }
        self.transpose(0, 1)
    }

    /// Elements `start..end` with `step` along `dim` (a view).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.arange(10, DType::I64)?;
    /// assert_eq!(t.slice(0, 1, 8, 3)?.to_vec::<i64>()?, vec![1, 4, 7]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.dim())?;
        self.view_op(view_kind::SLICE, &[d as i64, start as i64, end as i64, step as i64])
    }

    /// `slice(dim, i, i+1, 1)` followed by removing `dim`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let m = host.arange(6, DType::I64)?.reshape(&[2, 3])?;
    /// assert_eq!(m.select(0, 1)?.to_vec::<i64>()?, vec![3, 4, 5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn select(&self, dim: isize, index: usize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.dim())?;
        let s = self.slice(d as isize, index, index + 1, 1)?;
        s.squeeze_dim(d as isize)
    }

    /// Broadcasts to `shape` without copying (-1 keeps a dimension).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let row = host.arange(3, DType::F32)?.unsqueeze(0)?;
    /// assert_eq!(row.expand(&[4, -1])?.shape(), vec![4, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn expand(&self, shape: &[isize]) -> Result<Tensor> {
        let args: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::EXPAND, &args)
    }

    /// Inserts a dimension of size 1 at `dim`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[3], DType::F32)?;
    /// assert_eq!(t.unsqueeze(0)?.shape(), vec![1, 3]);
    /// assert_eq!(t.unsqueeze(-1)?.shape(), vec![3, 1]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let mut s: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        let d = normalize_dim(dim, s.len() + 1)?;
        s.insert(d, 1);
        self.reshape(&s)
    }

    /// Removes dimension `dim`, which must have size 1.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[3, 1], DType::F32)?;
    /// assert_eq!(t.squeeze_dim(1)?.shape(), vec![3]);
    /// assert!(t.squeeze_dim(0).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn squeeze_dim(&self, dim: isize) -> Result<Tensor> {
        let mut s: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        let d = normalize_dim(dim, s.len())?;
        if s[d] != 1 {
            crate::bail!("squeeze: dim {d} has size {}, not 1", s[d]);
        }
        s.remove(d);
        self.reshape(&s)
    }

    /// Flattens dimensions `start..=end` into one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?;
    /// assert_eq!(t.flatten(1, -1)?.shape(), vec![2, 12]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        let s = self.shape();
        if s.is_empty() {
            return self.reshape(&[1]);
        }
        let (a, b) = (normalize_dim(start, s.len())?, normalize_dim(end, s.len())?);
        if a > b {
            crate::bail!("flatten: start {a} after end {b}");
        }
        let mut out: Vec<isize> = s[..a].iter().map(|&d| d as isize).collect();
        out.push(s[a..=b].iter().product::<usize>() as isize);
        out.extend(s[b + 1..].iter().map(|&d| d as isize));
        self.reshape(&out)
    }

    /// Contiguous copy (or the same tensor if already contiguous).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3], DType::F32)?.t()?.contiguous()?;
    /// assert_eq!(t.shape(), vec![3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn contiguous(&self) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.contiguous)(self.h, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Converts to `dtype` (differentiable between float types).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1.5f32], &[1])?.to_dtype(DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![1.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.to_dtype)(self.h, dtype, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }
}
