//! Helpers shared by the neural-network reference ops (matmul, conv, pooling, norms, attention):
//! attribute reading with schema defaults, 2-D geometry and dtype checks.

use ferrite_sdk::abi::dtype::DType;
use ferrite_sdk::kernel::{Attr, Attrs, Meta};

/// Int-list attribute `i`, or `default` when it is absent or unset (`Attr::None`).
pub fn ints_or(attrs: &Attrs, i: usize, default: &[i64]) -> Result<Vec<i64>, String> {
    if attrs.is_none(i) {
        Ok(default.to_vec())
    } else {
        attrs.ints(i)
    }
}

/// Int attribute `i`, or `default` when absent.
pub fn int_or(attrs: &Attrs, i: usize, default: i64) -> Result<i64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.int(i)
    }
}

/// Float attribute `i`, or `default` when absent.
pub fn float_or(attrs: &Attrs, i: usize, default: f64) -> Result<f64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.float(i)
    }
}

/// Bool attribute `i`, or `default` when absent.
pub fn bool_or(attrs: &Attrs, i: usize, default: bool) -> Result<bool, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.bool(i)
    }
}

/// String attribute `i`, or `default` when absent.
pub fn str_or(attrs: &Attrs, i: usize, default: &str) -> Result<String, String> {
    match attrs.0.get(i) {
        None | Some(Attr::None) => Ok(default.to_string()),
        _ => attrs.str(i).map(|s| s.to_string()),
    }
}

/// Reads a 2-element int list attribute (`[h, w]`; a single value means both) and checks every
/// entry is at least `min`. Errors name `op` and `name`.
pub fn pair(op: &str, name: &str, v: &[i64], min: i64) -> Result<[usize; 2], String> {
    let p = match v {
        [a] => [*a, *a],
        [a, b] => [*a, *b],
        _ => return Err(format!("{op}: {name} must have 1 or 2 values, got {v:?}")),
    };
    if p[0] < min || p[1] < min {
        return Err(format!("{op}: {name} must be >= {min}, got {v:?}"));
    }
    Ok([p[0] as usize, p[1] as usize])
}

/// Splits a 3-d `[C, H, W]` or 4-d `[N, C, H, W]` shape into (number of `H×W` planes, H, W).
pub fn planes(op: &str, shape: &[usize]) -> Result<(usize, usize, usize), String> {
    if shape.len() != 3 && shape.len() != 4 {
        return Err(format!("{op}: expected a 3-d [C, H, W] or 4-d [N, C, H, W] input, got shape {shape:?}"));
    }
    let n = shape.len();
    Ok((shape[..n - 2].iter().product(), shape[n - 2], shape[n - 1]))
}

/// Errors unless `m` has a floating dtype.
pub fn check_float(op: &str, what: &str, m: &Meta) -> Result<(), String> {
    if !m.dtype.is_float() {
        return Err(format!("{op}: {what} must be a floating tensor, got {}", m.dtype.name()));
    }
    Ok(())
}

/// Errors unless optional `other` (if present) has the dtype `dtype` (PyTorch rejects mixed dtypes).
pub fn check_same_dtype(op: &str, what: &str, dtype: DType, other: Option<&Meta>) -> Result<(), String> {
    if let Some(m) = other {
        if m.dtype != dtype {
            return Err(format!("{op}: {what} has dtype {} but input has {}", m.dtype.name(), dtype.name()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ferrite_sdk::register::OPS;

    /// Every nn op is registered once with the contract's input/attr/output counts and 4 dtypes.
    #[test]
    fn nn_ops_registered_per_contract() {
        let expect: [(&str, usize, usize, usize); 13] = [
            ("ferrite::matmul", 2, 0, 1),
            ("ferrite::bmm", 2, 0, 1),
            ("ferrite::linear", 3, 0, 1),
            ("ferrite::conv2d", 3, 4, 1),
            ("ferrite::max_pool2d", 1, 5, 2),
            ("ferrite::avg_pool2d", 1, 5, 1),
            ("ferrite::adaptive_max_pool2d", 1, 1, 2),
            ("ferrite::adaptive_avg_pool2d", 1, 1, 1),
            ("ferrite::spatial_pyramid_pool", 1, 2, 1),
            ("ferrite::upsample_nearest2d", 1, 1, 1),
            ("ferrite::layer_norm", 3, 2, 3),
            ("ferrite::batch_norm", 5, 3, 5),
            ("ferrite::scaled_dot_product_attention", 4, 2, 1),
        ];
        for (name, ni, na, no) in expect {
            let found: Vec<_> = OPS.iter().filter(|d| d.name.as_str() == name).collect();
            assert_eq!(found.len(), 1, "{name} registered once");
            let d = found[0];
            assert_eq!((d.inputs.len(), d.attrs.len(), d.outputs.len()), (ni, na, no), "{name} schema");
            assert_eq!(d.kernels.len(), 4, "{name} dtypes");
            assert!(d.kernels.iter().all(|k| k.has_backward), "{name} backward");
            assert!(d.outputs[0].differentiable && d.outputs[1..].iter().all(|o| !o.differentiable), "{name} outputs");
        }
    }
}
