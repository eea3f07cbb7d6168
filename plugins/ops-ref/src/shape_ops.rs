//! Joining ops: `cat` and `stack` (variadic inputs). The indexing ops (`index_select`,
//! `gather`, `embedding`) live in [`crate::indexing`].

use crate::common::norm_dim;
use crate::reduce::split_at_dim;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// Int attribute `i`, or `default` when unset.
fn int_or(op: &str, attrs: &Attrs, i: usize, default: i64) -> Result<i64, String> {
    if attrs.is_none(i) {
        Ok(default)
    } else {
        attrs.int(i).map_err(|e| format!("{op}: {e}"))
    }
}

/// Output shape of `cat`: checks ranks and non-`dim` sizes; returns `(dim, shape)`.
fn cat_layout(shapes: &[&[usize]], attrs: &Attrs) -> Result<(usize, Vec<usize>), String> {
    let first = shapes.first().ok_or("cat: needs at least one tensor")?;
    if first.is_empty() {
        return Err("cat: zero-dimensional tensors cannot be concatenated".into());
    }
    let dim = norm_dim(int_or("cat", attrs, 0, 0)?, first.len()).map_err(|e| format!("cat: {e}"))?;
    let mut out = first.to_vec();
    out[dim] = 0;
    for (k, s) in shapes.iter().enumerate() {
        let same = s.len() == first.len() && s.iter().zip(*first).enumerate().all(|(d, (a, b))| d == dim || a == b);
        if !same {
            return Err(format!("cat: tensor {k} has shape {s:?}, incompatible with {first:?} along dim {dim}"));
        }
        out[dim] += s[dim];
    }
    Ok((dim, out))
}

/// Collects the present inputs of a variadic op (an absent entry is an error).
fn all_present<'a, T>(op: &str, ins: &'a [Option<T>]) -> Result<Vec<&'a T>, String> {
    ins.iter().enumerate().map(|(i, x)| x.as_ref().ok_or_else(|| format!("{op}: tensor {i} is absent"))).collect()
}

/// Shape function of `ferrite::cat`: all inputs share a dtype and all sizes but `dim`.
pub fn cat_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let ms = all_present("cat", ins)?;
    if let Some(m) = ms.iter().find(|m| m.dtype != ms[0].dtype) {
        return Err(format!("cat: dtypes differ ({} vs {})", ms[0].dtype.name(), m.dtype.name()));
    }
    let shapes: Vec<&[usize]> = ms.iter().map(|m| &m.shape[..]).collect();
    Ok(vec![Meta::new(ms[0].dtype, cat_layout(&shapes, attrs)?.1)])
}

/// Forward of `ferrite::cat` (matches `torch.cat(tensors, dim)`): concatenation along `dim`.
/// Errors on no inputs, 0-d inputs, or mismatched ranks/sizes.
pub fn cat_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let xs = all_present("cat", ins)?;
    let shapes: Vec<&[usize]> = xs.iter().map(|x| &x.shape[..]).collect();
    let (dim, shape) = cat_layout(&shapes, attrs)?;
    let (outer, _, inner) = split_at_dim(&shape, dim);
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for x in &xs {
            let chunk = x.shape[dim] * inner;
            data.extend_from_slice(&x.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(vec![Array { shape, data }])
}

/// Backward of `ferrite::cat`: the upstream gradient split back into each input's slab.
pub fn cat_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let xs = all_present("cat", &a.inputs)?;
    let g = &a.grads[0];
    let shapes: Vec<&[usize]> = xs.iter().map(|x| &x.shape[..]).collect();
    let (dim, shape) = cat_layout(&shapes, &a.attrs)?;
    let (outer, total, inner) = split_at_dim(&shape, dim);
    let mut grads = Vec::with_capacity(xs.len());
    let mut start = 0;
    for x in &xs {
        let len = x.shape[dim];
        let mut d = Vec::with_capacity(x.numel());
        for o in 0..outer {
            let base = (o * total + start) * inner;
            d.extend_from_slice(&g.data[base..base + len * inner]);
        }
        start += len;
        grads.push(Some(Array { shape: x.shape.clone(), data: d }));
    }
    Ok(grads)
}

reference_op! {
    CAT {
        name: "ferrite::cat",
        version: 1,
        api_names: ["cat", "concat", "concatenate"],
        aliases: ["aten::cat"],
        deprecated: [],
        doc: "Concatenation of tensors along dim; all other sizes must match.",
        inputs: [ArgDesc::tensor("tensors").variadic()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int("dim", 0)],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: cat_shape,
        forward: cat_forward,
        backward: some(cat_backward),
    }
}

/// `(dim, unsqueezed shape)` of `stack`: all shapes equal; `dim` wraps over `ndim + 1`.
fn stack_layout(shapes: &[&[usize]], attrs: &Attrs) -> Result<(usize, Vec<usize>), String> {
    let first = shapes.first().ok_or("stack: needs at least one tensor")?;
    if let Some((k, s)) = shapes.iter().enumerate().find(|(_, s)| s != &first) {
        return Err(format!("stack: tensor {k} has shape {s:?}, expected {first:?}"));
    }
    let dim = norm_dim(int_or("stack", attrs, 0, 0)?, first.len() + 1).map_err(|e| format!("stack: {e}"))?;
    let mut unsq = first.to_vec();
    unsq.insert(dim, 1);
    Ok((dim, unsq))
}

/// Shape function of `ferrite::stack`: equal shapes and dtypes; a new dim of size `n` at `dim`.
pub fn stack_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let ms = all_present("stack", ins)?;
    if let Some(m) = ms.iter().find(|m| m.dtype != ms[0].dtype) {
        return Err(format!("stack: dtypes differ ({} vs {})", ms[0].dtype.name(), m.dtype.name()));
    }
    let shapes: Vec<&[usize]> = ms.iter().map(|m| &m.shape[..]).collect();
    let (dim, mut s) = stack_layout(&shapes, attrs)?;
    s[dim] = ms.len();
    Ok(vec![Meta::new(ms[0].dtype, s)])
}

/// The inputs viewed with a size-1 dim inserted at `dim` (so `stack` is `cat` of them).
fn unsqueezed(ins: &[Option<Array>], attrs: &Attrs) -> Result<(Vec<Option<Array>>, Attrs), String> {
    let xs = all_present("stack", ins)?;
    let shapes: Vec<&[usize]> = xs.iter().map(|x| &x.shape[..]).collect();
    let (dim, unsq) = stack_layout(&shapes, attrs)?;
    let views = xs.iter().map(|x| Some(Array { shape: unsq.clone(), data: x.data.clone() })).collect();
    Ok((views, Attrs(vec![ferrite_sdk::kernel::Attr::Int(dim as i64)])))
}

/// Forward of `ferrite::stack` (matches `torch.stack(tensors, dim)`): equal-shaped tensors
/// stacked along a new `dim` (`-ndim-1 <= dim <= ndim`).
pub fn stack_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (views, a) = unsqueezed(ins, attrs)?;
    cat_forward(&views, &a)
}

/// Backward of `ferrite::stack`: slice `i` of the upstream gradient along `dim` goes to input `i`.
pub fn stack_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (views, ca) = unsqueezed(&a.inputs, &a.attrs)?;
    let args = BackwardArgs { grads: a.grads.clone(), inputs: views, outputs: a.outputs.clone(), attrs: ca, needs: a.needs.clone() };
    let shapes: Vec<Vec<usize>> = all_present("stack", &a.inputs)?.iter().map(|x| x.shape.clone()).collect();
    Ok(cat_backward(&args)?.into_iter().zip(shapes).map(|(g, s)| g.map(|g| Array { shape: s, data: g.data })).collect())
}

reference_op! {
    STACK {
        name: "ferrite::stack",
        version: 1,
        api_names: ["stack"],
        aliases: ["aten::stack"],
        deprecated: [],
        doc: "Stacks equal-shaped tensors along a new dim.",
        inputs: [ArgDesc::tensor("tensors").variadic()],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int("dim", 0)],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: stack_shape,
        forward: stack_forward,
        backward: some(stack_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use ferrite_sdk::abi::dtype::DType;
    use ferrite_sdk::kernel::Attr;

    fn dim(d: i64) -> Attrs {
        attrs(vec![Attr::Int(d)])
    }

    #[test]
    fn cat_hand_values_and_errors() {
        let a = arr(&[2, 1], &[1.0, 2.0]);
        let b = arr(&[2, 2], &[3.0, 4.0, 5.0, 6.0]);
        let ins = some(&[&a, &b]);
        let y = cat_forward(&ins, &dim(-1)).unwrap();
        assert_eq!(y[0], arr(&[2, 3], &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0]));
        check_shape(cat_shape, &ins, &[], &dim(1), &y);
        let r = cat_forward(&some(&[&b, &b]), &attrs(vec![])).unwrap();
        assert_eq!(r[0].shape, vec![4, 2], "dim defaults to 0");
        assert_eq!(cat_forward(&some(&[&a]), &dim(0)).unwrap()[0], a);
        assert!(cat_forward(&ins, &dim(0)).unwrap_err().starts_with("cat: "));
        assert!(cat_forward(&[], &dim(0)).is_err());
        assert!(cat_forward(&some(&[&Array::scalar(1.0)]), &dim(0)).is_err());
        assert!(cat_forward(&ins, &dim(2)).is_err());
        let metas = [Some(Meta::new(DType::F32, vec![2])), Some(Meta::new(DType::F64, vec![2]))];
        assert!(cat_shape(&metas, &dim(0)).unwrap_err().contains("dtypes"));
        // Zero-size pieces are fine.
        let e = Array::zeros(&[2, 0]);
        assert_eq!(cat_forward(&some(&[&a, &e]), &dim(1)).unwrap()[0], a);
    }

    #[test]
    fn stack_hand_values_and_errors() {
        let a = vec1(&[1.0, 2.0]);
        let b = vec1(&[3.0, 4.0]);
        let ins = some(&[&a, &b]);
        let s0 = stack_forward(&ins, &dim(0)).unwrap();
        assert_eq!(s0[0], arr(&[2, 2], &[1.0, 2.0, 3.0, 4.0]));
        let s1 = stack_forward(&ins, &dim(-1)).unwrap();
        assert_eq!(s1[0], arr(&[2, 2], &[1.0, 3.0, 2.0, 4.0]));
        check_shape(stack_shape, &ins, &[], &dim(-1), &s1);
        assert_eq!(stack_forward(&some(&[&Array::scalar(5.0)]), &dim(0)).unwrap()[0], vec1(&[5.0]));
        assert!(stack_forward(&some(&[&a, &vec1(&[1.0])]), &dim(0)).unwrap_err().starts_with("stack: "));
        assert!(stack_forward(&ins, &dim(2)).is_err());
    }

    #[test]
    fn cat_and_stack_backward_match_finite_differences() {
        let a = rand_array(&[2, 1, 3], 1);
        let b = rand_array(&[2, 2, 3], 2);
        check_grad(cat_forward, cat_backward, &some(&[&a, &b]), &dim(1), &[0, 1], 3);
        let c = rand_array(&[2, 3], 4);
        let d = rand_array(&[2, 3], 5);
        for k in [0, 1, 2, -1] {
            check_grad(stack_forward, stack_backward, &some(&[&c, &d, &c]), &dim(k), &[0, 1, 2], 6);
        }
    }
}
