//! Elementwise unary ops.

use crate::common::{req, same_as_input};
use ferrite_sdk::abi::op::ArgDesc;
use ferrite_sdk::kernel::{Array, Attrs, BackwardArgs};
use ferrite_sdk::reference_op;
use ferrite_sdk::register::REFERENCE_FLOATS;

/// `max(x, 0)`.
pub fn relu_forward(ins: &[Option<Array>], _attrs: &Attrs) -> Result<Vec<Array>, String> {
    let x = req(ins, 0)?;
    Ok(vec![Array { shape: x.shape.clone(), data: x.data.iter().map(|&v| v.max(0.0)).collect() }])
}

/// `dx = dy · [x > 0]` (0 at 0, as PyTorch).
pub fn relu_backward(a: &BackwardArgs) -> Result<Vec<Option<Array>>, String> {
    let x = req(&a.inputs, 0)?;
    let g = &a.grads[0];
    let data = x.data.iter().zip(&g.data).map(|(&x, &g)| if x > 0.0 { g } else { 0.0 }).collect();
    Ok(vec![Some(Array { shape: x.shape.clone(), data })])
}

reference_op! {
    RELU {
        name: "ferrite::relu",
        version: 1,
        api_names: ["nn.functional.relu", "relu"],
        aliases: ["aten::relu"],
        deprecated: [],
        doc: "Rectified linear unit max(x, 0); gradient 0 at 0.",
        inputs: [ArgDesc::tensor("input")],
        outputs: [ArgDesc::tensor("out")],
        attrs: [],
        dispatch_input: 0,
        dtypes: [REFERENCE_FLOATS[0], REFERENCE_FLOATS[1], REFERENCE_FLOATS[2], REFERENCE_FLOATS[3]],
        shape: same_as_input,
        forward: relu_forward,
        backward: some(relu_backward),
    }
}
