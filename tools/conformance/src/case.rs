//! One generated test case of one op: its inputs (values, shape, layout, kind), attributes and
//! what the gradient checks need to know. Printed in full when it is a counterexample.

use crate::gen::{numel, Layout};
use ferrite_sdk::kernel::Attr;
use std::fmt;

/// How an input's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Float data, stored in the kernel's dtype (any dtype for comparison ops' int kernels).
    Float,
    /// Float data that must stay free of ties (max, min, max pooling): after rounding to a
    /// low-precision dtype, tied values are respaced (order kept) before the case runs.
    Distinct,
    /// i64 data (targets, indices).
    I64,
    /// Bool data (masks, conditions).
    Bool,
}

/// One input tensor of a case.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// Logical row-major values.
    pub data: Vec<f64>,
    /// Shape.
    pub shape: Vec<usize>,
    /// Memory layout.
    pub layout: Layout,
    /// Storage kind.
    pub kind: Kind,
    /// Whether gradients w.r.t. this input are checked.
    pub grad: bool,
}

impl Input {
    /// An input; with [`Layout::Expanded`] the values are made equal along dim 0 (the first
    /// slice is repeated), so a stride-0 view can hold them.
    pub fn new(mut data: Vec<f64>, shape: &[usize], layout: Layout, kind: Kind, grad: bool) -> Input {
        assert_eq!(data.len(), numel(shape), "{} values for shape {shape:?}", data.len());
        // A broadcast view repeats values: ties, which distinct inputs must not have.
        let layout = if kind == Kind::Distinct && layout == Layout::Expanded { Layout::Sliced } else { layout };
        if layout == Layout::Expanded && !shape.is_empty() && !data.is_empty() {
            let inner = data.len() / shape[0];
            for i in inner..data.len() {
                data[i] = data[i % inner];
            }
        }
        Input { data, shape: shape.to_vec(), layout, kind, grad }
    }
    /// A differentiable float input.
    pub fn float(data: Vec<f64>, shape: &[usize], layout: Layout) -> Input {
        Input::new(data, shape, layout, Kind::Float, true)
    }
    /// A differentiable float input whose values must not tie.
    pub fn distinct(data: Vec<f64>, shape: &[usize], layout: Layout) -> Input {
        Input::new(data, shape, layout, Kind::Distinct, true)
    }
    /// A float input that is not differentiated (masks, weights of losses, running stats).
    pub fn constant(data: Vec<f64>, shape: &[usize], layout: Layout) -> Input {
        Input::new(data, shape, layout, Kind::Float, false)
    }
    /// An i64 input.
    pub fn i64(data: &[i64], shape: &[usize], layout: Layout) -> Input {
        Input::new(data.iter().map(|&v| v as f64).collect(), shape, layout, Kind::I64, false)
    }
    /// A bool input.
    pub fn bool(data: &[bool], shape: &[usize], layout: Layout) -> Input {
        Input::new(data.iter().map(|&v| v as u8 as f64).collect(), shape, layout, Kind::Bool, false)
    }
    /// Whether the values are float (stored in the kernel's dtype).
    pub fn is_float(&self) -> bool {
        matches!(self.kind, Kind::Float | Kind::Distinct)
    }
}

/// One case of one op.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Canonical op name.
    pub op: &'static str,
    /// Positional inputs (`None` = absent optional input; variadic inputs listed in full).
    pub inputs: Vec<Option<Input>>,
    /// Positional attributes (`Attr::None` = the schema default).
    pub attrs: Vec<Attr>,
    /// Number of outputs of the op.
    pub n_out: usize,
    /// `(input, element)` pairs whose gradient is exactly 0 by definition although the output
    /// depends on them (embedding's `padding_idx` row).
    pub frozen: Vec<(usize, usize)>,
    /// Hand the backward a transposed (non-contiguous) output gradient.
    pub transpose_grad: bool,
    /// Seed of the output gradients.
    pub seed: u64,
}

impl Case {
    /// A case with no frozen elements, contiguous output gradients and seed 0.
    pub fn new(op: &'static str, inputs: Vec<Option<Input>>, attrs: Vec<Attr>, n_out: usize) -> Case {
        Case { op, inputs, attrs, n_out, frozen: Vec::new(), transpose_grad: false, seed: 0 }
    }
    /// Sets the output-gradient seed and transposition.
    pub fn grads(mut self, seed: u64, transpose: bool) -> Case {
        self.seed = seed;
        self.transpose_grad = transpose;
        self
    }
}

/// Row-major strides (in elements) of `shape` laid out as `layout`, as the tensor builder makes them.
pub fn strides_of(shape: &[usize], layout: Layout) -> Vec<i64> {
    let nd = shape.len();
    let compact = |s: &[usize]| -> Vec<i64> {
        let mut st = vec![1i64; s.len()];
        for i in (0..s.len().saturating_sub(1)).rev() {
            st[i] = st[i + 1] * s[i + 1].max(1) as i64;
        }
        st
    };
    let n = numel(shape);
    match layout {
        Layout::Transposed if nd >= 2 && n > 0 => {
            let mut b = shape.to_vec();
            b.swap(nd - 2, nd - 1);
            let mut st = compact(&b);
            st.swap(nd - 2, nd - 1);
            st
        }
        Layout::Sliced | Layout::Transposed if nd >= 1 && n > 0 => {
            let mut b = shape.to_vec();
            b[nd - 1] = 2 * b[nd - 1] + 1;
            let mut st = compact(&b);
            st[nd - 1] *= 2;
            st
        }
        Layout::Expanded if nd >= 1 && n > 0 => {
            let mut st = compact(shape);
            st[0] = 0;
            st
        }
        _ => compact(shape),
    }
}

fn attr_str(a: &Attr) -> String {
    match a {
        Attr::None => "default".into(),
        Attr::Int(v) => v.to_string(),
        Attr::Float(v) => format!("{v}"),
        Attr::Bool(v) => v.to_string(),
        Attr::Ints(v) => format!("{v:?}"),
        Attr::Str(s) => format!("{s:?}"),
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}(", self.op)?;
        for (i, inp) in self.inputs.iter().enumerate() {
            match inp {
                None => writeln!(f, "  #{i}: absent")?,
                Some(x) => {
                    let vals: Vec<String> = x.data.iter().take(64).map(|v| format!("{v}")).collect();
                    let more = if x.data.len() > 64 { format!(", … ({} in all)", x.data.len()) } else { String::new() };
                    writeln!(
                        f,
                        "  #{i}: {:?} shape {:?} strides {:?} ({:?}){} = [{}{more}]",
                        x.kind,
                        x.shape,
                        strides_of(&x.shape, x.layout),
                        x.layout,
                        if x.grad { " grad" } else { "" },
                        vals.join(", ")
                    )?
                }
            }
        }
        let attrs: Vec<String> = self.attrs.iter().map(attr_str).collect();
        write!(f, "  attrs: [{}]", attrs.join(", "))?;
        if self.transpose_grad {
            write!(f, "; transposed output gradient")?;
        }
        write!(f, "; gradient seed {})", self.seed)
    }
}
