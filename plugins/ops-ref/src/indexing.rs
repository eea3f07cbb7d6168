//! Indexing ops: `index_select`, `gather`, `embedding`.
//!
//! Index tensors are int64 and get no gradient; an index out of range (or negative) is an error,
//! never a panic. Gradients scatter-add the upstream gradient back to the source positions.

use crate::common::{norm_dim, req};
use crate::reduce::split_at_dim;
use ferrite_sdk::abi::dtype::DType;
use ferrite_sdk::abi::op::{ArgDesc, AttrDesc};
use ferrite_sdk::kernel::array::{contiguous_strides, unravel};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// Converts an index value to `usize`, checking `0 <= v < n`.
fn index(op: &str, v: f64, n: usize) -> Result<usize, String> {
    if v >= 0.0 && v < n as f64 && v.fract() == 0.0 {
        Ok(v as usize)
    } else {
        Err(format!("{op}: index {v} out of range for size {n}"))
    }
}

/// Errors unless an index tensor is int64.
fn check_i64(op: &str, m: &Meta) -> Result<(), String> {
    if m.dtype == DType::I64 {
        Ok(())
    } else {
        Err(format!("{op}: index must be int64, got {}", m.dtype.name()))
    }
}

/// `(dim, output shape)` of `index_select`: `input` at least 1-D, `index` at most 1-D.
fn index_select_layout(input: &[usize], index: &[usize], attrs: &Attrs) -> Result<(usize, Vec<usize>), String> {
    if input.is_empty() {
        return Err("index_select: input must have at least one dimension".into());
    }
    if index.len() > 1 {
        return Err(format!("index_select: index must be 1-D, got shape {index:?}"));
    }
    let d = attrs.int(0).map_err(|e| format!("index_select: dim: {e}"))?;
    let dim = norm_dim(d, input.len()).map_err(|e| format!("index_select: {e}"))?;
    let mut out = input.to_vec();
    out[dim] = index.iter().product();
    Ok((dim, out))
}

/// Shape function of `ferrite::index_select`: input's shape with `dim` resized to `len(index)`.
pub fn index_select_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (x, i) = (req(ins, 0)?, req(ins, 1)?);
    check_i64("index_select", i)?;
    Ok(vec![Meta::new(x.dtype, index_select_layout(&x.shape, &i.shape, attrs)?.1)])
}

/// Forward of `ferrite::index_select` (matches `torch.index_select(input, dim, index)`):
/// `out[.., k, ..] = input[.., index[k], ..]` along `dim`.
pub fn index_select_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (x, idx) = (req(ins, 0)?, req(ins, 1)?);
    let (dim, shape) = index_select_layout(&x.shape, &idx.shape, attrs)?;
    let (outer, len, inner) = split_at_dim(&x.shape, dim);
    let rows: Vec<usize> = idx.data.iter().map(|&v| index("index_select", v, len)).collect::<Result<_, _>>()?;
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for &r in &rows {
            let base = (o * len + r) * inner;
            data.extend_from_slice(&x.data[base..base + inner]);
        }
    }
    Ok(vec![Array { shape, data }])
}

/// Backward of `ferrite::index_select`: scatter-add of the upstream gradient into the selected
/// positions (repeated indices accumulate); `index` gets none.
pub fn index_select_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (x, idx) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let (dim, _) = index_select_layout(&x.shape, &idx.shape, &a.attrs)?;
    let (outer, len, inner) = split_at_dim(&x.shape, dim);
    let g = &a.grads[0];
    let mut dx = Array::zeros(&x.shape);
    let k = idx.numel();
    for o in 0..outer {
        for (j, &v) in idx.data.iter().enumerate() {
            let r = index("index_select", v, len)?;
            for i in 0..inner {
                dx.data[(o * len + r) * inner + i] += g.data[(o * k + j) * inner + i];
            }
        }
    }
    Ok(vec![Some(dx), None])
}

reference_op! {
    INDEX_SELECT {
        name: "ferrite::index_select",
        version: 1,
        api_names: ["index_select", "Tensor.index_select"],
        aliases: ["aten::index_select"],
        deprecated: [],
        doc: "Selects entries along dim by a 1-D int64 index.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor_nograd("index")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int_required("dim")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: index_select_shape,
        forward: index_select_forward,
        backward: some(index_select_backward),
    }
}

/// `dim` of `gather`, checking ranks and that `index.size(d) <= input.size(d)` for `d != dim`.
fn gather_dim(input: &[usize], index: &[usize], attrs: &Attrs) -> Result<usize, String> {
    let d = attrs.int(0).map_err(|e| format!("gather: dim: {e}"))?;
    let dim = norm_dim(d, input.len()).map_err(|e| format!("gather: {e}"))?;
    if index.len() != input.len() {
        return Err(format!("gather: index rank {} differs from input rank {}", index.len(), input.len()));
    }
    if let Some(k) = (0..input.len()).find(|&k| k != dim && index[k] > input[k]) {
        return Err(format!("gather: index size {} exceeds input size {} at dim {k}", index[k], input[k]));
    }
    Ok(dim)
}

/// Shape function of `ferrite::gather`: the index's shape, input's dtype.
pub fn gather_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (x, i) = (req(ins, 0)?, req(ins, 1)?);
    check_i64("gather", i)?;
    gather_dim(&x.shape, &i.shape, attrs)?;
    Ok(vec![Meta::new(x.dtype, i.shape.clone())])
}

/// For each index element, the flat input position it reads.
fn gather_sources(x: &Array, idx: &Array, attrs: &Attrs) -> Result<Vec<usize>, String> {
    let dim = gather_dim(&x.shape, &idx.shape, attrs)?;
    let strides = contiguous_strides(&x.shape);
    let len = x.shape.get(dim).copied().unwrap_or(1);
    (0..idx.numel())
        .map(|f| {
            let mut pos = unravel(f, &idx.shape);
            if !pos.is_empty() {
                pos[dim] = index("gather", idx.data[f], len)?;
            } else {
                index("gather", idx.data[f], 1)?;
            }
            Ok(pos.iter().zip(&strides).map(|(p, s)| p * s).sum())
        })
        .collect()
}

/// Forward of `ferrite::gather` (matches `torch.gather(input, dim, index)`):
/// `out[i][j] = input[index[i][j]][j]` for `dim = 0`, likewise for other dims.
pub fn gather_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (x, idx) = (req(ins, 0)?, req(ins, 1)?);
    let src = gather_sources(x, idx, attrs)?;
    Ok(vec![Array { shape: idx.shape.clone(), data: src.iter().map(|&s| x.data[s]).collect() }])
}

/// Backward of `ferrite::gather`: scatter-add of the upstream gradient to the gathered positions.
pub fn gather_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (x, idx) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let mut dx = Array::zeros(&x.shape);
    for (s, g) in gather_sources(x, idx, &a.attrs)?.into_iter().zip(&a.grads[0].data) {
        dx.data[s] += g;
    }
    Ok(vec![Some(dx), None])
}

reference_op! {
    GATHER {
        name: "ferrite::gather",
        version: 1,
        api_names: ["gather", "Tensor.gather"],
        aliases: ["aten::gather"],
        deprecated: [],
        doc: "Gathers values along dim by an int64 index of the input's rank.",
        inputs: [ArgDesc::tensor("input"), ArgDesc::tensor_nograd("index")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int_required("dim")],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: gather_shape,
        forward: gather_forward,
        backward: some(gather_backward),
    }
}

/// `(V, D, padding row)` of `embedding`, validating `weight [V, D]` and `padding_idx` (`-1` =
/// none; otherwise `0 <= padding_idx < V`).
fn embedding_layout(weight: &[usize], attrs: &Attrs) -> Result<(usize, usize, Option<usize>), String> {
    if weight.len() != 2 {
        return Err(format!("embedding: weight must be [V, D], got shape {weight:?}"));
    }
    let p = if attrs.is_none(0) { -1 } else { attrs.int(0).map_err(|e| format!("embedding: padding_idx: {e}"))? };
    let pad = match p {
        -1 => None,
        p if p >= 0 && (p as usize) < weight[0] => Some(p as usize),
        p => return Err(format!("embedding: padding_idx {p} out of range for {} rows (-1 means none)", weight[0])),
    };
    Ok((weight[0], weight[1], pad))
}

/// Shape function of `ferrite::embedding`: `[*input, D]`, weight's dtype.
pub fn embedding_shape(ins: &[Option<Meta>], attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (i, w) = (req(ins, 0)?, req(ins, 1)?);
    check_i64("embedding", i)?;
    let (_, d, _) = embedding_layout(&w.shape, attrs)?;
    let mut s = i.shape.clone();
    s.push(d);
    Ok(vec![Meta::new(w.dtype, s)])
}

/// Forward of `ferrite::embedding` (matches `F.embedding(input, weight, padding_idx)`): row
/// `input[...]` of `weight` for every index; an index outside `[0, V)` is an error.
pub fn embedding_forward(ins: &[Option<Array>], attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (idx, w) = (req(ins, 0)?, req(ins, 1)?);
    let (v, d, _) = embedding_layout(&w.shape, attrs)?;
    let mut data = Vec::with_capacity(idx.numel() * d);
    for &i in &idx.data {
        let r = index("embedding", i, v)?;
        data.extend_from_slice(&w.data[r * d..(r + 1) * d]);
    }
    let mut shape = idx.shape.clone();
    shape.push(d);
    Ok(vec![Array { shape, data }])
}

/// Backward of `ferrite::embedding`: rows of the upstream gradient scatter-added into `dweight`;
/// the `padding_idx` row gets zero; the indices get none.
pub fn embedding_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (idx, w) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let (v, d, pad) = embedding_layout(&w.shape, &a.attrs)?;
    let g = &a.grads[0];
    let mut dw = Array::zeros(&w.shape);
    for (k, &i) in idx.data.iter().enumerate() {
        let r = index("embedding", i, v)?;
        if Some(r) == pad {
            continue;
        }
        for j in 0..d {
            dw.data[r * d + j] += g.data[k * d + j];
        }
    }
    Ok(vec![None, Some(dw)])
}

reference_op! {
    EMBEDDING {
        name: "ferrite::embedding",
        version: 1,
        api_names: ["nn.functional.embedding", "embedding"],
        aliases: ["aten::embedding"],
        deprecated: [],
        doc: "Embedding lookup of int64 indices into weight [V, D]; padding_idx row gets no gradient.",
        inputs: [ArgDesc::tensor_nograd("input"), ArgDesc::tensor("weight")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [AttrDesc::int("padding_idx", -1)],
        dispatch_input: 1,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: embedding_shape,
        forward: embedding_forward,
        backward: some(embedding_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use ferrite_sdk::kernel::Attr;

    fn dim(d: i64) -> Attrs {
        attrs(vec![Attr::Int(d)])
    }

    #[test]
    fn index_select_values_grads_and_errors() {
        let x = arr(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let i = vec1(&[2.0, 0.0, 2.0]);
        let ins = some(&[&x, &i]);
        let y = index_select_forward(&ins, &dim(1)).unwrap();
        assert_eq!(y[0], arr(&[2, 3], &[3.0, 1.0, 3.0, 6.0, 4.0, 6.0]));
        check_shape(index_select_shape, &ins, &[DType::F32, DType::I64], &dim(1), &y);
        assert_eq!(index_select_forward(&some(&[&x, &vec1(&[1.0])]), &dim(0)).unwrap()[0], arr(&[1, 3], &[4.0, 5.0, 6.0]));
        check_grad(index_select_forward, index_select_backward, &ins, &dim(-1), &[0], 1);
        check_grad(index_select_forward, index_select_backward, &some(&[&x, &vec1(&[1.0, 1.0])]), &dim(0), &[0], 2);
        for bad in [vec1(&[3.0]), vec1(&[-1.0])] {
            assert!(index_select_forward(&some(&[&x, &bad]), &dim(1)).unwrap_err().starts_with("index_select: index"));
        }
        assert!(index_select_forward(&ins, &dim(2)).is_err());
        assert!(index_select_forward(&some(&[&x, &arr(&[1, 1], &[0.0])]), &dim(0)).is_err());
        assert!(index_select_shape(&[Some(Meta::new(DType::F32, vec![2])), Some(Meta::new(DType::F32, vec![1]))], &dim(0)).is_err());
    }

    #[test]
    fn gather_values_grads_and_errors() {
        let x = arr(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        // torch.gather(t, 1, torch.tensor([[0, 0], [1, 0]])) == [[1, 1], [4, 3]]
        let i = arr(&[2, 2], &[0.0, 0.0, 1.0, 0.0]);
        let ins = some(&[&x, &i]);
        let y = gather_forward(&ins, &dim(1)).unwrap();
        assert_eq!(y[0], arr(&[2, 2], &[1.0, 1.0, 4.0, 3.0]));
        check_shape(gather_shape, &ins, &[DType::F32, DType::I64], &dim(1), &y);
        let y0 = gather_forward(&some(&[&x, &arr(&[1, 2], &[1.0, 0.0])]), &dim(0)).unwrap();
        assert_eq!(y0[0], arr(&[1, 2], &[3.0, 2.0]));
        let x3 = rand_array(&[3, 4, 2], 3);
        let i3 = arr(&[2, 3, 2], &[0.0, 3.0, 1.0, 1.0, 2.0, 0.0, 3.0, 3.0, 0.0, 1.0, 2.0, 2.0]);
        check_grad(gather_forward, gather_backward, &some(&[&x3, &i3]), &dim(1), &[0], 4);
        assert!(gather_forward(&some(&[&x, &arr(&[1, 1], &[2.0])]), &dim(1)).unwrap_err().starts_with("gather: index"));
        assert!(gather_forward(&some(&[&x, &vec1(&[0.0])]), &dim(0)).unwrap_err().contains("rank"));
        assert!(gather_forward(&some(&[&x, &arr(&[1, 3], &[0.0; 3])]), &dim(0)).unwrap_err().contains("exceeds"));
    }

    #[test]
    fn embedding_values_padding_and_errors() {
        let w = arr(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let i = arr(&[2, 2], &[2.0, 0.0, 0.0, 1.0]);
        let ins = some(&[&i, &w]);
        let none = attrs(vec![Attr::Int(-1)]);
        let y = embedding_forward(&ins, &none).unwrap();
        assert_eq!(y[0], arr(&[2, 2, 2], &[5.0, 6.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0]));
        let m = check_shape(embedding_shape, &ins, &[DType::I64, DType::BF16], &none, &y);
        assert_eq!(m[0].dtype, DType::BF16);
        check_grad(embedding_forward, embedding_backward, &ins, &none, &[1], 5);
        check_grad(embedding_forward, embedding_backward, &ins, &attrs(vec![]), &[1], 5);
        // padding_idx 0: forward still reads the row, its gradient is zero.
        let pad = attrs(vec![Attr::Int(0)]);
        assert_eq!(embedding_forward(&ins, &pad).unwrap(), y);
        let args = BackwardArgs { grads: vec![Array::full(&[2, 2, 2], 1.0)], inputs: ins.clone(), outputs: y, attrs: pad, needs: vec![false, true] };
        let g = embedding_backward(&args).unwrap();
        assert!(g[0].is_none());
        assert_eq!(g[1].as_ref().unwrap().data, vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert!(embedding_forward(&some(&[&vec1(&[3.0]), &w]), &none).unwrap_err().starts_with("embedding: index"));
        assert!(embedding_forward(&some(&[&vec1(&[-1.0]), &w]), &none).is_err());
        assert!(embedding_forward(&ins, &attrs(vec![Attr::Int(3)])).unwrap_err().contains("padding_idx"));
        assert!(embedding_forward(&some(&[&i, &vec1(&[1.0])]), &none).is_err());
    }
}
