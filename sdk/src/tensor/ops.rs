//! Arithmetic and common ops of [`Tensor`] as methods.

use super::Tensor;
use crate::error::Result;

/// Arithmetic and common ops as methods, mirroring `torch.Tensor`.
impl Tensor {
    /// `self + other` (broadcasting).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[10.0f32], &[1])?; // broadcasts
    /// assert_eq!(a.add(&b)?.to_vec::<f32>()?, vec![11.0, 12.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::add(self, other)
    }
    /// `self - other`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[5.0f32, 7.0], &[2])?;
    /// assert_eq!(a.sub(&a)?.to_vec::<f32>()?, vec![0.0, 0.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::sub(self, other)
    }
    /// `self * other`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f32, 3.0], &[2])?;
    /// assert_eq!(a.mul(&a)?.to_vec::<f32>()?, vec![4.0, 9.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::mul(self, other)
    }
    /// `self / other`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f32, 3.0], &[2])?;
    /// assert_eq!(a.div(&a)?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::div(self, other)
    }
    /// `self + v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.zeros(&[2], DType::F32)?;
    /// assert_eq!(a.add_scalar(1.5)?.to_vec::<f32>()?, vec![1.5, 1.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        self.add(&crate::functional::scalar_like(self, v)?)
    }
    /// `self * v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[2], DType::F32)?;
    /// assert_eq!(a.mul_scalar(-2.0)?.to_vec::<f32>()?, vec![-2.0, -2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        self.mul(&crate::functional::scalar_like(self, v)?)
    }
    /// `self ^ v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f32, 3.0], &[2])?;
    /// assert_eq!(a.pow_scalar(2.0)?.to_vec::<f32>()?, vec![4.0, 9.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn pow_scalar(&self, v: f64) -> Result<Tensor> {
        crate::functional::pow(self, &crate::functional::scalar_like(self, v)?)
    }
    /// `-self`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, -2.0], &[2])?;
    /// assert_eq!(a.neg()?.to_vec::<f32>()?, vec![-1.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn neg(&self) -> Result<Tensor> {
        crate::functional::neg(self)
    }
    /// `e^self`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.zeros(&[1], DType::F64)?;
    /// assert_eq!(a.exp()?.item()?, 1.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn exp(&self) -> Result<Tensor> {
        crate::functional::exp(self)
    }
    /// `ln(self)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[1], DType::F64)?;
    /// assert_eq!(a.log()?.item()?, 0.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn log(&self) -> Result<Tensor> {
        crate::functional::log(self)
    }
    /// `sqrt(self)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[9.0f64], &[1])?;
    /// assert_eq!(a.sqrt()?.item()?, 3.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sqrt(&self) -> Result<Tensor> {
        crate::functional::sqrt(self)
    }
    /// `max(self, 0)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[-1.0f32, 2.0], &[2])?;
    /// assert_eq!(a.relu()?.to_vec::<f32>()?, vec![0.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn relu(&self) -> Result<Tensor> {
        crate::functional::relu(self)
    }
    /// Matrix product (`torch.matmul`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[2, 3], DType::F32)?;
    /// let b = host.ones(&[3, 4], DType::F32)?;
    /// let c = a.matmul(&b)?;
    /// assert_eq!(c.shape(), vec![2, 4]);
    /// assert_eq!(c.to_vec::<f32>()?[0], 3.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::matmul(self, other)
    }
    /// Sum of all elements (0-d).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.arange(4, DType::F32)?;
    /// assert_eq!(a.sum_all()?.item()?, 6.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sum_all(&self) -> Result<Tensor> {
        crate::functional::sum(self, &[], false)
    }
    /// Mean of all elements (0-d).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.arange(4, DType::F32)?;
    /// assert_eq!(a.mean_all()?.item()?, 1.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mean_all(&self) -> Result<Tensor> {
        crate::functional::mean(self, &[], false)
    }
    /// Index of the maximum along `dim`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
    /// assert_eq!(a.argmax(1)?.to_vec::<i64>()?, vec![1, 0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn argmax(&self, dim: isize) -> Result<Tensor> {
        crate::functional::argmax(self, dim, false)
    }
}
