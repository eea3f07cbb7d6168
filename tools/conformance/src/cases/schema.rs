//! A generic strategy built from an op's registered schema, for ops the reference does not
//! implement (self-consistency mode): every differentiable input is a float tensor of one
//! random shape (values in `[-3, 3)`, any layout); a non-differentiable required input is an
//! i64 class-index tensor over the last dim of that shape (shape without the last dim, values in
//! `0..last`); optional non-differentiable inputs are absent; every attribute takes its default.
//! Kept simple on purpose: it suits elementwise ops and per-row losses, which covers most
//! `contrib::` ops; ops with stricter input contracts reject the cases, which is reported.

use crate::case::{Case, Input};
use crate::gen::{layout, numel, shape, shape_nonzero, Opts, Rng};
use ferrite_core::Runtime;
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

/// The schema strategy of the registered op `op` (canonical name), or `None` when it is not
/// registered, takes variadic inputs, has a required attribute without default or no input.
pub fn strategy(op: &str, o: &Opts) -> Option<BoxedStrategy<Case>> {
    let reg = Runtime::global().registry();
    let desc = reg.resolve(op).and_then(|(id, _)| reg.op(id)).map(|e| e.schema())?;
    let name: &'static str = desc.name.as_str();
    let ins: Vec<(bool, bool)> = desc.inputs.iter().map(|a| (a.differentiable, a.optional)).collect();
    if ins.is_empty() || desc.inputs.iter().any(|a| a.variadic) || desc.attrs.iter().any(|a| !a.has_default) {
        return None;
    }
    let n_attrs = desc.attrs.len();
    let n_out = desc.outputs.len();
    let indexed = ins.iter().any(|&(d, opt)| !d && !opt);
    let shapes = if indexed { shape_nonzero(o, 2, 2) } else { shape(o, 0, 3) };
    let lays = prop::collection::vec(layout(o), ins.len());
    Some(
        (shapes, lays, any::<u64>(), any::<bool>())
            .prop_map(move |(s, lays, seed, tr)| {
                let mut r = Rng::new(seed);
                let inputs = ins
                    .iter()
                    .zip(&lays)
                    .map(|(&(diff, opt), &lay)| {
                        if diff {
                            Some(Input::float(r.vals(numel(&s), -3.0, 3.0), &s, lay))
                        } else if opt {
                            None
                        } else {
                            let (rows, classes) = s.split_at(s.len().saturating_sub(1));
                            let c = classes.first().copied().unwrap_or(1).max(1);
                            let t: Vec<i64> = (0..numel(rows)).map(|_| r.below(c) as i64).collect();
                            Some(Input::i64(&t, rows, crate::gen::Layout::Contig))
                        }
                    })
                    .collect();
                Case::new(name, inputs, vec![Attr::None; n_attrs], n_out).grads(seed, tr)
            })
            .boxed(),
    )
}
