//! Binary ops with NumPy/PyTorch broadcasting: arithmetic (`add`, `sub`, `mul`, `div`, `pow`),
//! comparisons (`eq`, `ne`, `lt`, `le`, `gt`, `ge` → bool) and `where`.
//!
//! Shapes broadcast by the NumPy rule (align right; sizes equal or one of them 1). The gradient
//! of an operand is the elementwise gradient summed back to the operand's own shape
//! ([`sum_to_shape`]), so a `[1, 3]` or `[3]` bias gets a `[1, 3]` or `[3]` gradient (field
//! case C07).

use crate::common::req;
use ferrite_sdk::abi::dtype::DType;
use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::kernel::array::{broadcast_index, broadcast_shapes, sum_to_shape, unravel};
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs, Meta};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;
pub use ferrite_sdk::shape::binary::arith_shape;

/// `out[i] = f(a[i'], b[i''])` over the broadcast shape of `a` and `b`.
pub fn broadcast_map(op: &str, a: &Array, b: &Array, f: impl Fn(f64, f64) -> f64) -> Result<Array, String> {
    let shape = broadcast_shapes(&a.shape, &b.shape).map_err(|e| format!("{op}: {e}"))?;
    let n: usize = shape.iter().product();
    let mut data = Vec::with_capacity(n);
    for flat in 0..n {
        let idx = unravel(flat, &shape);
        data.push(f(a.data[broadcast_index(&idx, &a.shape)], b.data[broadcast_index(&idx, &b.shape)]));
    }
    Ok(Array { shape, data })
}

/// Shape function of the comparisons: broadcast shape, dtype bool (operands may differ in dtype;
/// values are compared exactly in f64).
pub fn compare_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (a, b) = (req(ins, 0)?, req(ins, 1)?);
    Ok(vec![Meta::new(DType::BOOL, broadcast_shapes(&a.shape, &b.shape)?)])
}

/// Backward helper: with `da(a, b, y)` and `db(a, b, y)` the local partial derivatives,
/// `grad_a = sum_to_shape(dy · da)` and likewise for `b`, each only if wanted.
fn binary_grads(
    a: &BackwardArgs,
    da: impl Fn(f64, f64, f64) -> f64,
    db: impl Fn(f64, f64, f64) -> f64,
) -> Result<Vec<Option<Array>>, String> {
    let (x, w) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?);
    let (g, y) = (&a.grads[0], &a.outputs[0]);
    let want = |i: usize| a.needs.get(i).copied().unwrap_or(true);
    let mut ga = Array::zeros(&g.shape);
    let mut gb = Array::zeros(&g.shape);
    for flat in 0..g.numel() {
        let idx = unravel(flat, &g.shape);
        let (av, bv) = (x.data[broadcast_index(&idx, &x.shape)], w.data[broadcast_index(&idx, &w.shape)]);
        if want(0) {
            ga.data[flat] = g.data[flat] * da(av, bv, y.data[flat]);
        }
        if want(1) {
            gb.data[flat] = g.data[flat] * db(av, bv, y.data[flat]);
        }
    }
    Ok(vec![want(0).then(|| sum_to_shape(&ga, &x.shape)), want(1).then(|| sum_to_shape(&gb, &w.shape))])
}

/// `x^e` derivative w.r.t. `x`: `e·x^(e-1)`, 0 where `e == 0` (PyTorch's `pow_backward`).
fn pow_dbase(x: f64, e: f64) -> f64 {
    if e == 0.0 {
        0.0
    } else {
        e * x.powf(e - 1.0)
    }
}

/// `x^e` derivative w.r.t. `e`: `x^e·ln x`, 0 where `x == 0` and `e >= 0` (PyTorch's
/// `pow_backward_exponent`, which avoids `0·(-inf)`).
fn pow_dexp(x: f64, y: f64, e: f64) -> f64 {
    if x == 0.0 && e >= 0.0 {
        0.0
    } else {
        y * x.ln()
    }
}

/// Declares one broadcasting arithmetic op.
macro_rules! arith_op {
    (
        $STATIC:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal,
        $fwd:ident = |$a:ident, $b:ident| $f:expr,
        $bwd:ident = |$x:ident, $w:ident, $y:ident| ($da:expr, $db:expr) $(,)?
    ) => {
        #[doc = concat!("Forward of `", $name, "`: ", $doc, " Output: the broadcast shape, input's dtype; ",
                        "errors if the shapes do not broadcast.")]
        pub fn $fwd(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
            Ok(vec![broadcast_map($name, req(ins, 0)?, req(ins, 1)?, |$a, $b| $f)?])
        }

        #[doc = concat!("Backward of `", $name, "`: elementwise partials summed back to each operand's shape.")]
        #[allow(unused_variables)]
        pub fn $bwd(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
            binary_grads(a, |$x, $w, $y| $da, |$x, $w, $y| $db)
        }

        reference_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                deprecated: [],
                doc: $doc,
                inputs: [ArgDesc::tensor("input"), ArgDesc::tensor("other")],
                outputs: [ArgDesc::tensor("out")],
                attrs: [],
                dispatch_input: 0,
                dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
                shape: arith_shape,
                forward: $fwd,
                backward: some($bwd),
            }
        }
    };
}

arith_op!(ADD, "ferrite::add", ["add", "Tensor.add", "Tensor.__add__"], "aten::add",
    "Elementwise input + other with broadcasting.",
    add_forward = |a, b| a + b,
    add_backward = |x, w, y| (1.0, 1.0));

arith_op!(SUB, "ferrite::sub", ["sub", "Tensor.sub", "Tensor.__sub__", "subtract"], "aten::sub",
    "Elementwise input - other with broadcasting.",
    sub_forward = |a, b| a - b,
    sub_backward = |x, w, y| (1.0, -1.0));

arith_op!(MUL, "ferrite::mul", ["mul", "Tensor.mul", "Tensor.__mul__", "multiply"], "aten::mul",
    "Elementwise input * other with broadcasting.",
    mul_forward = |a, b| a * b,
    mul_backward = |x, w, y| (w, x));

arith_op!(DIV, "ferrite::div", ["div", "Tensor.div", "Tensor.__truediv__", "divide", "true_divide"], "aten::div",
    "Elementwise true division input / other with broadcasting (IEEE: x/0 is +-inf or NaN).",
    div_forward = |a, b| a / b,
    div_backward = |x, w, y| (1.0 / w, -x / (w * w)));

arith_op!(POW, "ferrite::pow", ["pow", "Tensor.pow", "Tensor.__pow__"], "aten::pow",
    "Elementwise input ^ other with broadcasting; exponent gradient x^e ln x (0 where x == 0, e >= 0).",
    pow_forward = |a, b| a.powf(b),
    pow_backward = |x, w, y| (pow_dbase(x, w), pow_dexp(x, y, w)));

/// Declares one comparison op (bool output, no backward).
macro_rules! compare_op {
    ($STATIC:ident, $name:literal, [$($api:literal),*], $alias:literal, $doc:literal, $fwd:ident = |$a:ident, $b:ident| $f:expr) => {
        #[doc = concat!("Forward of `", $name, "`: ", $doc,
                        " Output: broadcast shape, bool (1.0/0.0 here); NaN compares unequal to everything.")]
        pub fn $fwd(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
            Ok(vec![broadcast_map($name, req(ins, 0)?, req(ins, 1)?, |$a, $b| ($f) as u8 as f64)?])
        }

        reference_op! {
            $STATIC {
                name: $name,
                version: 1,
                api_names: [$($api),*],
                aliases: [$alias],
                deprecated: [],
                doc: $doc,
                inputs: [ArgDesc::tensor_nograd("input"), ArgDesc::tensor_nograd("other")],
                outputs: [ArgDesc::tensor_nograd("out")],
                attrs: [],
                dispatch_input: 0,
                dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3], DType::I64, DType::I32],
                shape: compare_shape,
                forward: $fwd,
                backward: none,
            }
        }
    };
}

compare_op!(EQ, "ferrite::eq", ["eq", "Tensor.eq", "Tensor.__eq__"], "aten::eq", "input == other with broadcasting.",
    eq_forward = |a, b| a == b);
compare_op!(NE, "ferrite::ne", ["ne", "Tensor.ne", "Tensor.__ne__", "not_equal"], "aten::ne", "input != other with broadcasting.",
    ne_forward = |a, b| a != b);
compare_op!(LT, "ferrite::lt", ["lt", "Tensor.lt", "Tensor.__lt__", "less"], "aten::lt", "input < other with broadcasting.",
    lt_forward = |a, b| a < b);
compare_op!(LE, "ferrite::le", ["le", "Tensor.le", "Tensor.__le__", "less_equal"], "aten::le", "input <= other with broadcasting.",
    le_forward = |a, b| a <= b);
compare_op!(GT, "ferrite::gt", ["gt", "Tensor.gt", "Tensor.__gt__", "greater"], "aten::gt", "input > other with broadcasting.",
    gt_forward = |a, b| a > b);
compare_op!(GE, "ferrite::ge", ["ge", "Tensor.ge", "Tensor.__ge__", "greater_equal"], "aten::ge", "input >= other with broadcasting.",
    ge_forward = |a, b| a >= b);

/// Shape function of `ferrite::where`: all three shapes broadcast together; `condition` must be
/// bool, `input` and `other` share a dtype, which the output takes.
pub fn where_shape(ins: &[Option<Meta>], _attrs: &Attrs) -> Result<Vec<Meta>, String> {
    let (c, a, b) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
    if c.dtype != DType::BOOL {
        return Err(format!("where: condition must be bool, got {}", c.dtype.name()));
    }
    if a.dtype != b.dtype {
        return Err(format!("where: input and other dtypes differ ({} vs {})", a.dtype.name(), b.dtype.name()));
    }
    let s = broadcast_shapes(&c.shape, &a.shape).and_then(|s| broadcast_shapes(&s, &b.shape));
    Ok(vec![Meta::new(a.dtype, s.map_err(|e| format!("where: {e}"))?)])
}

/// Forward of `ferrite::where` (matches `torch.where(condition, input, other)`): `out[i] =
/// condition[i] != 0 ? input[i] : other[i]` over the broadcast shape of all three.
pub fn where_forward(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
    let (c, a, b) = (req(ins, 0)?, req(ins, 1)?, req(ins, 2)?);
    let shape = broadcast_shapes(&c.shape, &a.shape)
        .and_then(|s| broadcast_shapes(&s, &b.shape))
        .map_err(|e| format!("where: {e}"))?;
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|flat| {
            let idx = unravel(flat, &shape);
            if c.data[broadcast_index(&idx, &c.shape)] != 0.0 {
                a.data[broadcast_index(&idx, &a.shape)]
            } else {
                b.data[broadcast_index(&idx, &b.shape)]
            }
        })
        .collect();
    Ok(vec![Array { shape, data }])
}

/// Backward of `ferrite::where`: `dy` routed to `input` where the condition holds and to `other`
/// elsewhere, each summed back to its own shape; `condition` gets none.
pub fn where_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let (c, x, w) = (req(&a.inputs, 0)?, req(&a.inputs, 1)?, req(&a.inputs, 2)?);
    let g = &a.grads[0];
    let (mut gx, mut gw) = (Array::zeros(&g.shape), Array::zeros(&g.shape));
    for flat in 0..g.numel() {
        let idx = unravel(flat, &g.shape);
        if c.data[broadcast_index(&idx, &c.shape)] != 0.0 {
            gx.data[flat] = g.data[flat];
        } else {
            gw.data[flat] = g.data[flat];
        }
    }
    Ok(vec![None, Some(sum_to_shape(&gx, &x.shape)), Some(sum_to_shape(&gw, &w.shape))])
}

reference_op! {
    WHERE {
        name: "ferrite::where",
        version: 1,
        api_names: ["where", "Tensor.where"],
        aliases: ["aten::where"],
        deprecated: [],
        doc: "condition ? input : other with broadcasting of all three; condition is bool.",
        inputs: [ArgDesc::tensor_nograd("condition"), ArgDesc::tensor("input"), ArgDesc::tensor("other")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 1,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: where_shape,
        forward: where_forward,
        backward: some(where_backward),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use proptest::prelude::*;

    type Fwd = fn(&[Option<Array>], &Attrs) -> Result<Vec<Array>, String>;
    type Bwd = fn(&BackwardArgs) -> Result<Vec<Option<Array>>, String>;
    const ARITH: [(Fwd, Bwd); 5] = [
        (add_forward, add_backward),
        (sub_forward, sub_backward),
        (mul_forward, mul_backward),
        (div_forward, div_backward),
        (pow_forward, pow_backward),
    ];

    fn grads(b: Bwd, ins: &[&Array], out: &Array, g: &Array) -> Vec<Option<Array>> {
        let args = BackwardArgs { grads: vec![g.clone()], inputs: some(ins), outputs: vec![out.clone()], attrs: attrs(vec![]), needs: vec![true; ins.len()] };
        b(&args).unwrap()
    }

    #[test]
    fn arithmetic_forward_broadcasts() {
        let a = arr(&[2, 1], &[1.0, 2.0]);
        let b = vec1(&[1.0, 2.0, 4.0]);
        let none = attrs(vec![]);
        let run = |f: Fwd| f(&some(&[&a, &b]), &none).unwrap().remove(0);
        let add = run(add_forward);
        assert_eq!(add.shape, vec![2, 3]);
        assert_eq!(add.data, vec![2.0, 3.0, 5.0, 3.0, 4.0, 6.0]);
        assert_eq!(run(sub_forward).data, vec![0.0, -1.0, -3.0, 1.0, 0.0, -2.0]);
        assert_eq!(run(mul_forward).data, vec![1.0, 2.0, 4.0, 2.0, 4.0, 8.0]);
        assert_eq!(run(div_forward).data, vec![1.0, 0.5, 0.25, 2.0, 1.0, 0.5]);
        assert_eq!(run(pow_forward).data, vec![1.0, 1.0, 1.0, 2.0, 4.0, 16.0]);
        let m = check_shape(arith_shape, &some(&[&a, &b]), &[DType::F32, DType::F32], &none, &[add]);
        assert_eq!(m[0].dtype, DType::F32);
        let bad = vec1(&[1.0, 2.0]);
        let e = add_forward(&some(&[&arr(&[3], &[1.0; 3]), &bad]), &none).unwrap_err();
        assert!(e.starts_with("ferrite::add: "), "{e}");
        assert!(arith_shape(&[Some(Meta::new(DType::F32, vec![2])), Some(Meta::new(DType::F64, vec![2]))], &none).is_err());
    }

    #[test]
    fn arithmetic_backward_matches_finite_differences() {
        let a = rand_array(&[2, 1, 3], 3);
        let b = rand_array(&[4, 1], 4);
        let pos = Array { shape: a.shape.clone(), data: a.data.iter().map(|v| v.abs() + 0.5).collect() };
        for (i, (f, bw)) in ARITH.into_iter().enumerate() {
            let base = if i == 4 { &pos } else { &a };
            check_grad(f, bw, &some(&[base, &b]), &attrs(vec![]), &[0, 1], i as u64);
        }
    }

    #[test]
    fn pow_gradient_at_zero_base_is_finite() {
        let x = vec1(&[0.0, 0.0]);
        let e = vec1(&[2.0, 0.0]);
        let y = pow_forward(&some(&[&x, &e]), &attrs(vec![])).unwrap().remove(0);
        assert_eq!(y.data, vec![0.0, 1.0]);
        let g = grads(pow_backward, &[&x, &e], &y, &vec1(&[1.0, 1.0]));
        assert_eq!(g[0].as_ref().unwrap().data, vec![0.0, 0.0]);
        assert_eq!(g[1].as_ref().unwrap().data, vec![0.0, 0.0]);
    }

    /// Field case C07: y = x@w + bias with bias [1,3] (and the rank-1 [3] variant) broadcast
    /// against the [2,1] product; loss = sum((y - label)^2). Every operand's gradient has its own
    /// shape. Values from /work/shared/cases/C07.json.
    #[test]
    fn c07_broadcast_gradients_have_operand_shapes() {
        let x = arr(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let w = [0.1, 0.2, 0.3];
        let m = arr(&[2, 1], &[1.0 * 0.1 + 2.0 * 0.2 + 3.0 * 0.3, 4.0 * 0.1 + 5.0 * 0.2 + 6.0 * 0.3]);
        let label = arr(&[2, 1], &[1.0, 2.0]);
        for bias in [arr(&[1, 3], &[0.5, -0.5, 1.0]), vec1(&[0.5, -0.5, 1.0])] {
            let none = attrs(vec![]);
            let y = add_forward(&some(&[&m, &bias]), &none).unwrap().remove(0);
            assert_close(&y.data, &[1.9, 0.9, 2.4, 3.7, 2.7, 4.2], 1e-12, "y");
            let d = sub_forward(&some(&[&y, &label]), &none).unwrap().remove(0);
            let sq = mul_forward(&some(&[&d, &d]), &none).unwrap().remove(0);
            assert!((sq.data.iter().sum::<f64>() - 11.0).abs() < 1e-12);
            let g_sq = mul_backward_sum(&d, &sq);
            let g_sub = grads(sub_backward, &[&y, &label], &d, &g_sq);
            let d_label = g_sub[1].clone().unwrap();
            assert_eq!(d_label.shape, vec![2, 1]);
            assert_close(&d_label.data, &[-4.4, -9.2], 1e-5, "d_label");
            let g_add = grads(add_backward, &[&m, &bias], &y, g_sub[0].as_ref().unwrap());
            let (d_m, d_bias) = (g_add[0].clone().unwrap(), g_add[1].clone().unwrap());
            assert_eq!(d_bias.shape, bias.shape, "d_bias keeps the bias's own shape");
            assert_close(&d_bias.data, &[5.2, 1.2, 7.2], 1e-5, "d_bias");
            assert_eq!(d_m.shape, vec![2, 1]);
            let d_w: Vec<f64> = (0..3).map(|k| x.data[k] * d_m.data[0] + x.data[3 + k] * d_m.data[1]).collect();
            assert_close(&d_w, &[41.2, 54.8, 68.4], 1e-5, "d_w");
            let d_x: Vec<f64> = (0..6).map(|i| d_m.data[i / 3] * w[i % 3]).collect();
            assert_close(&d_x, &[0.44, 0.88, 1.32, 0.92, 1.84, 2.76], 1e-5, "d_x");
        }
    }

    /// Gradient of `sum(d*d)` through `mul(d, d)`: both operand gradients, added.
    fn mul_backward_sum(d: &Array, sq: &Array) -> Array {
        let g = grads(mul_backward, &[d, d], sq, &Array::full(&sq.shape, 1.0));
        let (a, b) = (g[0].as_ref().unwrap(), g[1].as_ref().unwrap());
        Array { shape: a.shape.clone(), data: a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect() }
    }

    #[test]
    fn comparisons_give_bool_without_gradient() {
        let a = vec1(&[1.0, 2.0, f64::NAN]);
        let b = arr(&[1], &[2.0]);
        let none = attrs(vec![]);
        let run = |f: Fwd| f(&some(&[&a, &b]), &none).unwrap().remove(0).data;
        assert_eq!(run(eq_forward), vec![0.0, 1.0, 0.0]);
        assert_eq!(run(ne_forward), vec![1.0, 0.0, 1.0]);
        assert_eq!(run(lt_forward), vec![1.0, 0.0, 0.0]);
        assert_eq!(run(le_forward), vec![1.0, 1.0, 0.0]);
        assert_eq!(run(gt_forward), vec![0.0, 0.0, 0.0]);
        assert_eq!(run(ge_forward), vec![0.0, 1.0, 0.0]);
        let m = compare_shape(&[Some(Meta::new(DType::F32, vec![3])), Some(Meta::new(DType::I64, vec![1]))], &none).unwrap();
        assert_eq!(m, vec![Meta::new(DType::BOOL, vec![3])]);
    }

    #[test]
    fn where_selects_and_routes_gradients() {
        let c = arr(&[2, 1], &[1.0, 0.0]);
        let a = vec1(&[1.0, 2.0, 3.0]);
        let b = arr(&[], &[-1.0]);
        let none = attrs(vec![]);
        let ins = some(&[&c, &a, &b]);
        let y = where_forward(&ins, &none).unwrap();
        assert_eq!(y[0].data, vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
        check_shape(where_shape, &ins, &[DType::BOOL, DType::F32, DType::F32], &none, &y);
        assert!(where_shape(&[Some(Meta::new(DType::F32, vec![1])), Some(Meta::new(DType::F32, vec![1])), Some(Meta::new(DType::F32, vec![1]))], &none).is_err());
        check_grad(where_forward, where_backward, &ins, &none, &[1, 2], 5);
    }

    /// A shape broadcastable to `out`: a suffix of it with some dims set to 1.
    fn operand(out: &[usize], rank: usize, ones: u32) -> Vec<usize> {
        let s = &out[out.len() - rank.min(out.len())..];
        s.iter().enumerate().map(|(i, &d)| if ones >> i & 1 == 1 { 1 } else { d }).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn broadcasting_ops_forward_and_grad(
            out in prop::collection::vec(1usize..4, 0..4),
            ra in 0usize..4, rb in 0usize..4, oa in 0u32..16, ob in 0u32..16, seed in 0u64..1000,
        ) {
            let (sa, sb) = (operand(&out, ra, oa), operand(&out, rb, ob));
            let a = rand_array(&sa, seed);
            let b = rand_array(&sb, seed + 1);
            let y = mul_forward(&some(&[&a, &b]), &attrs(vec![])).unwrap().remove(0);
            // Independent forward: strides with 0 on broadcast dims.
            let shape = y.shape.clone();
            let stride0 = |s: &[usize]| -> Vec<usize> {
                let st = ferrite_sdk::kernel::array::contiguous_strides(s);
                let lead = shape.len() - s.len();
                (0..shape.len()).map(|d| if d < lead || s[d - lead] == 1 { 0 } else { st[d - lead] }).collect()
            };
            let (ta, tb) = (stride0(&sa), stride0(&sb));
            for (flat, v) in y.data.iter().enumerate() {
                let idx = unravel(flat, &shape);
                let ia: usize = idx.iter().zip(&ta).map(|(i, s)| i * s).sum();
                let ib: usize = idx.iter().zip(&tb).map(|(i, s)| i * s).sum();
                prop_assert_eq!(*v, a.data[ia] * b.data[ib]);
            }
            // div's divisor is kept away from 0: near 0 the finite difference itself is inaccurate.
            let b_div = Array { shape: b.shape.clone(), data: b.data.iter().map(|v| v.abs() + 0.5).collect() };
            for (i, (f, bw)) in ARITH.into_iter().enumerate().take(4) {
                let other = if i == 3 { &b_div } else { &b };
                check_grad(f, bw, &some(&[&a, other]), &attrs(vec![]), &[0, 1], seed + i as u64);
            }
        }
    }
}
