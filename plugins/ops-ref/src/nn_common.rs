//! Helpers shared by the neural-network reference ops (matmul, conv, pooling, norms, attention):
//! attribute reading with schema defaults, 2-D geometry and dtype checks.

pub use ferrite_sdk::shape::{bool_or, check_float, check_same_dtype, float_or, int_or, ints_or, pair, planes, str_or};

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
