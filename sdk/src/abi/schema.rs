//! `const` constructors for schema pieces, so op descriptors can live in `static`s.

use super::kernel::attr_kind;
use super::op::{ArgDesc, AttrDesc, Deprecation};
use abi_stable::std_types::{RSlice, RStr};

impl ArgDesc {
    /// A required, differentiable tensor argument.
    pub const fn tensor(name: &'static str) -> ArgDesc {
        ArgDesc { name: RStr::from_str(name), optional: false, variadic: false, differentiable: true }
    }
    /// A required tensor that gets no gradient (indices, masks, targets).
    pub const fn tensor_nograd(name: &'static str) -> ArgDesc {
        ArgDesc { name: RStr::from_str(name), optional: false, variadic: false, differentiable: false }
    }
    /// Marks the argument optional.
    pub const fn optional(mut self) -> ArgDesc {
        self.optional = true;
        self
    }
    /// Marks the argument variadic (a list of tensors).
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
    pub const fn int_required(name: &'static str) -> AttrDesc {
        attr(name, attr_kind::INT)
    }
    /// Int attribute with a default.
    pub const fn int(name: &'static str, default: i64) -> AttrDesc {
        let mut a = attr(name, attr_kind::INT);
        a.has_default = true;
        a.default_int = default;
        a
    }
    /// Float attribute with a default.
    pub const fn float(name: &'static str, default: f64) -> AttrDesc {
        let mut a = attr(name, attr_kind::FLOAT);
        a.has_default = true;
        a.default_float = default;
        a
    }
    /// Required float attribute.
    pub const fn float_required(name: &'static str) -> AttrDesc {
        attr(name, attr_kind::FLOAT)
    }
    /// Bool attribute with a default.
    pub const fn bool(name: &'static str, default: bool) -> AttrDesc {
        let mut a = attr(name, attr_kind::BOOL);
        a.has_default = true;
        a.default_int = default as i64;
        a
    }
    /// Int-list attribute with a default.
    pub const fn ints(name: &'static str, default: &'static [i64]) -> AttrDesc {
        let mut a = attr(name, attr_kind::INTS);
        a.has_default = true;
        a.default_ints = RSlice::from_slice(default);
        a
    }
    /// Required int-list attribute.
    pub const fn ints_required(name: &'static str) -> AttrDesc {
        attr(name, attr_kind::INTS)
    }
    /// String attribute with a default.
    pub const fn str(name: &'static str, default: &'static str) -> AttrDesc {
        let mut a = attr(name, attr_kind::STR);
        a.has_default = true;
        a.default_str = RStr::from_str(default);
        a
    }
}

impl Deprecation {
    /// A deprecated name and its replacement.
    pub const fn new(name: &'static str, replacement: &'static str) -> Deprecation {
        Deprecation { name: RStr::from_str(name), replacement: RStr::from_str(replacement) }
    }
}
