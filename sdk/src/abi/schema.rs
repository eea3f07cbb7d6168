//! `const` constructors for schema pieces, so op descriptors can live in `static`s.

use super::kernel::attr_kind;
use super::op::{ArgDesc, AttrDesc, Deprecation};
use abi_stable::std_types::{RSlice, RStr};

impl ArgDesc {
    /// A required, differentiable tensor argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::ArgDesc;
    /// const X: ArgDesc = ArgDesc::tensor("input");
    /// assert!(X.differentiable && !X.optional && !X.variadic && X.name.as_str() == "input");
    /// ```
    pub const fn tensor(name: &'static str) -> ArgDesc {
        ArgDesc { name: RStr::from_str(name), optional: false, variadic: false, differentiable: true }
    }
    /// A required tensor that gets no gradient (indices, masks, targets).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::ArgDesc;
    /// assert!(!ArgDesc::tensor_nograd("target").differentiable);
    /// ```
    pub const fn tensor_nograd(name: &'static str) -> ArgDesc {
        ArgDesc { name: RStr::from_str(name), optional: false, variadic: false, differentiable: false }
    }
    /// Marks the argument optional.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::ArgDesc;
    /// const BIAS: ArgDesc = ArgDesc::tensor("bias").optional();
    /// assert!(BIAS.optional && BIAS.differentiable);
    /// ```
    pub const fn optional(mut self) -> ArgDesc {
        self.optional = true;
        self
    }
    /// Marks the argument variadic (a list of tensors).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::ArgDesc;
    /// assert!(ArgDesc::tensor("tensors").variadic().variadic);
    /// ```
    pub const fn variadic(mut self) -> ArgDesc {
        self.variadic = true;
        self
    }
}

const fn attr(name: &'static str, kind: u32) -> AttrDesc {
    AttrDesc {
        name: RStr::from_str(name),
        kind,
        has_default: false,
        default_int: 0,
        default_float: 0.0,
        default_ints: RSlice::from_slice(&[]),
        default_str: RStr::from_str(""),
    }
}

impl AttrDesc {
    /// Required int attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::{kernel::attr_kind, op::AttrDesc};
    /// const DIM: AttrDesc = AttrDesc::int_required("dim");
    /// assert!(DIM.kind == attr_kind::INT && !DIM.has_default);
    /// ```
    pub const fn int_required(name: &'static str) -> AttrDesc {
        attr(name, attr_kind::INT)
    }
    /// Int attribute with a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::AttrDesc;
    /// const GROUPS: AttrDesc = AttrDesc::int("groups", 1);
    /// assert!(GROUPS.has_default && GROUPS.default_int == 1);
    /// ```
    pub const fn int(name: &'static str, default: i64) -> AttrDesc {
        let mut a = attr(name, attr_kind::INT);
        a.has_default = true;
        a.default_int = default;
        a
    }
    /// Float attribute with a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::{kernel::attr_kind, op::AttrDesc};
    /// const EPS: AttrDesc = AttrDesc::float("eps", 1e-5);
    /// assert!(EPS.kind == attr_kind::FLOAT && EPS.default_float == 1e-5);
    /// ```
    pub const fn float(name: &'static str, default: f64) -> AttrDesc {
        let mut a = attr(name, attr_kind::FLOAT);
        a.has_default = true;
        a.default_float = default;
        a
    }
    /// Required float attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::AttrDesc;
    /// assert!(!AttrDesc::float_required("p").has_default);
    /// ```
    pub const fn float_required(name: &'static str) -> AttrDesc {
        attr(name, attr_kind::FLOAT)
    }
    /// Bool attribute with a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::{kernel::attr_kind, op::AttrDesc};
    /// const KEEP: AttrDesc = AttrDesc::bool("keepdim", true);
    /// assert!(KEEP.kind == attr_kind::BOOL && KEEP.default_int == 1); // bools travel as 0/1 ints
    /// ```
    pub const fn bool(name: &'static str, default: bool) -> AttrDesc {
        let mut a = attr(name, attr_kind::BOOL);
        a.has_default = true;
        a.default_int = default as i64;
        a
    }
    /// Int-list attribute with a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::AttrDesc;
    /// const STRIDE: AttrDesc = AttrDesc::ints("stride", &[1, 1]);
    /// assert_eq!(STRIDE.default_ints.as_slice(), &[1, 1]);
    /// ```
    pub const fn ints(name: &'static str, default: &'static [i64]) -> AttrDesc {
        let mut a = attr(name, attr_kind::INTS);
        a.has_default = true;
        a.default_ints = RSlice::from_slice(default);
        a
    }
    /// Required int-list attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::{kernel::attr_kind, op::AttrDesc};
    /// const SIZE: AttrDesc = AttrDesc::ints_required("output_size");
    /// assert!(SIZE.kind == attr_kind::INTS && !SIZE.has_default);
    /// ```
    pub const fn ints_required(name: &'static str) -> AttrDesc {
        attr(name, attr_kind::INTS)
    }
    /// String attribute with a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::{kernel::attr_kind, op::AttrDesc};
    /// const RED: AttrDesc = AttrDesc::str("reduction", "mean");
    /// assert!(RED.kind == attr_kind::STR && RED.default_str.as_str() == "mean");
    /// ```
    pub const fn str(name: &'static str, default: &'static str) -> AttrDesc {
        let mut a = attr(name, attr_kind::STR);
        a.has_default = true;
        a.default_str = RStr::from_str(default);
        a
    }
}

impl Deprecation {
    /// A deprecated name and its replacement.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::op::Deprecation;
    /// const OLD: Deprecation = Deprecation::new("swish", "silu");
    /// assert_eq!((OLD.name.as_str(), OLD.replacement.as_str()), ("swish", "silu"));
    /// ```
    pub const fn new(name: &'static str, replacement: &'static str) -> Deprecation {
        Deprecation { name: RStr::from_str(name), replacement: RStr::from_str(replacement) }
    }
}
