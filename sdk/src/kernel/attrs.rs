//! Owned attribute values and their conversion to and from the ABI's [`AttrValue`].

use crate::abi::kernel::{attr_kind, AttrValue};

/// An attribute value owned by Rust code (the safe side of [`AttrValue`]).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::Attr;
/// assert_eq!(Attr::from(3i64), Attr::Int(3));
/// assert_eq!(Attr::from(0.5), Attr::Float(0.5));
/// assert_eq!(Attr::from(vec![1i64, 2]), Attr::Ints(vec![1, 2]));
/// assert_eq!(Attr::from("mean"), Attr::Str("mean".into()));
/// // Round trip through the ABI representation.
/// let a = Attr::from(vec![2i64, 2]);
/// assert_eq!(unsafe { Attr::from_abi(&a.as_abi()) }, a);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// Not given.
    None,
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// List of integers.
    Ints(Vec<i64>),
    /// String.
    Str(String),
}

impl Attr {
    /// Borrows this value as an ABI [`AttrValue`]; valid while `self` lives.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::kernel::attr_kind;
    /// use ferrite_sdk::kernel::Attr;
    /// let a = Attr::Int(7);
    /// let v = a.as_abi();
    /// assert_eq!((v.kind, v.int), (attr_kind::INT, 7));
    /// let s = Attr::from("sum");
    /// assert_eq!(s.as_abi().str_len, 3); // points into `s`, valid while `s` lives
    /// ```
    pub fn as_abi(&self) -> AttrValue {
        let mut v = AttrValue::NONE;
        match self {
            Attr::None => {}
            Attr::Int(i) => {
                v.kind = attr_kind::INT;
                v.int = *i;
            }
            Attr::Float(f) => {
                v.kind = attr_kind::FLOAT;
                v.float = *f;
            }
            Attr::Bool(b) => {
                v.kind = attr_kind::BOOL;
                v.int = *b as i64;
            }
            Attr::Ints(xs) => {
                v.kind = attr_kind::INTS;
                v.ints = xs.as_ptr();
                v.n_ints = xs.len();
            }
            Attr::Str(s) => {
                v.kind = attr_kind::STR;
                v.str_ptr = s.as_ptr();
                v.str_len = s.len();
            }
        }
        v
    }

    /// Copies an ABI value into an owned one.
    ///
    /// # Safety
    /// The pointers inside `v` must be valid for their stated lengths.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::kernel::AttrValue;
    /// use ferrite_sdk::kernel::Attr;
    /// let a = Attr::Ints(vec![2, 2]);
    /// assert_eq!(unsafe { Attr::from_abi(&a.as_abi()) }, a);
    /// assert_eq!(unsafe { Attr::from_abi(&AttrValue::NONE) }, Attr::None);
    /// ```
    pub unsafe fn from_abi(v: &AttrValue) -> Attr {
        match v.kind {
            attr_kind::INT => Attr::Int(v.int),
            attr_kind::FLOAT => Attr::Float(v.float),
            attr_kind::BOOL => Attr::Bool(v.int != 0),
            attr_kind::INTS => Attr::Ints(if v.n_ints == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(v.ints, v.n_ints).to_vec()
            }),
            attr_kind::STR => Attr::Str(if v.str_len == 0 {
                String::new()
            } else {
                String::from_utf8_lossy(std::slice::from_raw_parts(v.str_ptr, v.str_len)).into_owned()
            }),
            _ => Attr::None,
        }
    }
}

impl From<i64> for Attr {
    fn from(v: i64) -> Self {
        Attr::Int(v)
    }
}
impl From<usize> for Attr {
    fn from(v: usize) -> Self {
        Attr::Int(v as i64)
    }
}
impl From<f64> for Attr {
    fn from(v: f64) -> Self {
        Attr::Float(v)
    }
}
impl From<bool> for Attr {
    fn from(v: bool) -> Self {
        Attr::Bool(v)
    }
}
impl From<Vec<i64>> for Attr {
    fn from(v: Vec<i64>) -> Self {
        Attr::Ints(v)
    }
}
impl From<&[i64]> for Attr {
    fn from(v: &[i64]) -> Self {
        Attr::Ints(v.to_vec())
    }
}
impl From<&str> for Attr {
    fn from(v: &str) -> Self {
        Attr::Str(v.to_string())
    }
}

/// The attributes of one call, in schema order, with typed accessors that return one-line errors.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// let attrs = Attrs(vec![Attr::Int(1), Attr::Bool(true), Attr::Ints(vec![3, 3]), Attr::Str("tanh".into()), Attr::None]);
/// assert_eq!(attrs.int(0).unwrap(), 1);
/// assert!(attrs.bool(1).unwrap());
/// assert_eq!(attrs.ints(2).unwrap(), vec![3, 3]);
/// assert_eq!(attrs.str(3).unwrap(), "tanh");
/// assert!(attrs.is_none(4));
/// assert!(attrs.float(0).is_err() || attrs.float(0).unwrap() == 1.0);
/// assert!(attrs.int(9).is_err()); // missing → one-line error
/// ```
#[derive(Clone, Debug, Default)]
pub struct Attrs(pub Vec<Attr>);

impl Attrs {
    /// Decodes an ABI attribute array.
    ///
    /// # Safety
    /// `ptr` must point to `n` valid values (or `n == 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let owned = [Attr::Float(0.1), Attr::Bool(true)];
    /// let raw: Vec<_> = owned.iter().map(Attr::as_abi).collect();
    /// // In a kernel: `Attrs::from_raw(attrs, n_attrs)` with the pointers the core passes.
    /// let attrs = unsafe { Attrs::from_raw(raw.as_ptr(), raw.len()) };
    /// assert_eq!(attrs.float(0).unwrap(), 0.1);
    /// assert!(unsafe { Attrs::from_raw(std::ptr::null(), 0) }.0.is_empty());
    /// ```
    pub unsafe fn from_raw(ptr: *const AttrValue, n: usize) -> Attrs {
        if n == 0 || ptr.is_null() {
            return Attrs(Vec::new());
        }
        Attrs(std::slice::from_raw_parts(ptr, n).iter().map(|v| Attr::from_abi(v)).collect())
    }

    fn get(&self, i: usize) -> Result<&Attr, String> {
        self.0.get(i).ok_or_else(|| format!("attribute #{i} missing (got {})", self.0.len()))
    }

    /// Integer attribute `i` (booleans read as 0/1).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let attrs = Attrs(vec![Attr::Int(3), Attr::Bool(true), Attr::Float(0.5)]);
    /// assert_eq!((attrs.int(0).unwrap(), attrs.int(1).unwrap()), (3, 1));
    /// assert!(attrs.int(2).is_err());
    /// ```
    pub fn int(&self, i: usize) -> Result<i64, String> {
        match self.get(i)? {
            Attr::Int(v) => Ok(*v),
            Attr::Bool(b) => Ok(*b as i64),
            other => Err(format!("attribute #{i}: expected an int, got {other:?}")),
        }
    }

    /// Float attribute `i` (integers are converted).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let attrs = Attrs(vec![Attr::Float(0.5), Attr::Int(2), Attr::Str("x".into())]);
    /// assert_eq!((attrs.float(0).unwrap(), attrs.float(1).unwrap()), (0.5, 2.0));
    /// assert!(attrs.float(2).is_err());
    /// ```
    pub fn float(&self, i: usize) -> Result<f64, String> {
        match self.get(i)? {
            Attr::Float(v) => Ok(*v),
            Attr::Int(v) => Ok(*v as f64),
            other => Err(format!("attribute #{i}: expected a float, got {other:?}")),
        }
    }

    /// Boolean attribute `i` (integers: non-zero is true).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let attrs = Attrs(vec![Attr::Bool(false), Attr::Int(2), Attr::Float(1.0)]);
    /// assert_eq!((attrs.bool(0).unwrap(), attrs.bool(1).unwrap()), (false, true));
    /// assert!(attrs.bool(2).is_err());
    /// ```
    pub fn bool(&self, i: usize) -> Result<bool, String> {
        match self.get(i)? {
            Attr::Bool(v) => Ok(*v),
            Attr::Int(v) => Ok(*v != 0),
            other => Err(format!("attribute #{i}: expected a bool, got {other:?}")),
        }
    }

    /// Int-list attribute `i` (a single int reads as a one-element list).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let attrs = Attrs(vec![Attr::Ints(vec![1, 2]), Attr::Int(3), Attr::Bool(true)]);
    /// assert_eq!(attrs.ints(0).unwrap(), vec![1, 2]);
    /// assert_eq!(attrs.ints(1).unwrap(), vec![3]);
    /// assert!(attrs.ints(2).is_err());
    /// ```
    pub fn ints(&self, i: usize) -> Result<Vec<i64>, String> {
        match self.get(i)? {
            Attr::Ints(v) => Ok(v.clone()),
            Attr::Int(v) => Ok(vec![*v]),
            other => Err(format!("attribute #{i}: expected a list of ints, got {other:?}")),
        }
    }

    /// String attribute `i`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let attrs = Attrs(vec![Attr::from("mean"), Attr::Int(1)]);
    /// assert_eq!(attrs.str(0).unwrap(), "mean");
    /// assert!(attrs.str(1).is_err());
    /// ```
    pub fn str(&self, i: usize) -> Result<&str, String> {
        match self.get(i)? {
            Attr::Str(v) => Ok(v),
            other => Err(format!("attribute #{i}: expected a string, got {other:?}")),
        }
    }

    /// Whether attribute `i` was left unset (`Attr::None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::kernel::{Attr, Attrs};
    /// let attrs = Attrs(vec![Attr::None, Attr::Int(0)]);
    /// assert!(attrs.is_none(0) && attrs.is_none(5)); // unset or absent
    /// assert!(!attrs.is_none(1));
    /// ```
    pub fn is_none(&self, i: usize) -> bool {
        matches!(self.0.get(i), None | Some(Attr::None))
    }
}
