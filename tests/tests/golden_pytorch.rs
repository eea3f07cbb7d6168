//! The oracle checked against the field's reference: ops-ref (f64) against golden outputs and
//! gradients recorded from PyTorch.
//!
//! `tests/golden/generate.py` (run by hand with a pinned PyTorch; CI does not install it) writes
//! one safetensors file per op family: for each case the inputs, PyTorch's forward outputs, a
//! seeded weight `w_i` per differentiable output and the gradients of
//! `loss = Σ_i sum(out_i * w_i)`, all in float64, with the case's op and attributes as JSON in
//! the file's metadata. This test loads every fixture with `ferrite_sdk::checkpoint`, runs the
//! same op through the sdk → core → ops-ref with the recorded attributes (inputs marked
//! `"transposed"` are handed over as non-contiguous transposed views), and compares outputs
//! (shape, dtype class and values) and gradients. It needs neither Python nor torch.
//!
//! Tolerance: `|got - want| <= ATOL + RTOL·|want|` (NaN matches NaN, infinities must be equal),
//! with [`tolerance`] giving the few per-op exceptions and why. Integer and bool outputs
//! (indices, comparisons) must match exactly.
//!
//! `every_exported_op_has_a_golden_fixture` fails when ops-ref exports an op that no fixture
//! covers (the registry is read at run time).

use ferrite_core::Runtime;
use ferrite_sdk::checkpoint::{load_safetensors, load_safetensors_metadata};
use ferrite_sdk::functional::call::{call_op, OpCache};
use ferrite_sdk::functional::{self as F, Reduction};
use ferrite_sdk::kernel::Attr;
use ferrite_sdk::{DType, Host, Tensor};
use ferrite_tests::{with_ops_ref, workspace_root};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

type Res<T> = ferrite_sdk::Result<T>;

/// Default relative tolerance (f64 against f64: only summation order differs).
const RTOL: f64 = 1e-10;
/// Default absolute tolerance.
const ATOL: f64 = 1e-12;

/// Per-op tolerance `(rtol, atol)`. Both sides compute in f64; what differs is the order of
/// summation (and, for attention, PyTorch's tiled online softmax against ops-ref's two-pass one),
/// which moves results by a few ulps: with torch 2.15.0 the largest relative difference on values
/// not near 0 is about 1e-14 and the largest absolute one about 2.5e-14 (a gradient that cancels
/// to ~0). So no op needs more than the defaults; an op whose algorithm legitimately differs
/// more would get its own arm here, with the reason.
fn tolerance(op: &str) -> (f64, f64) {
    let _ = op;
    (RTOL, ATOL)
}

fn golden_dir() -> PathBuf {
    workspace_root().join("tests").join("golden")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in tests/golden");
    v
}

/// One fixture file: its tensors by name and its case list.
struct Fixture {
    file: String,
    tensors: HashMap<String, Tensor>,
    cases: Vec<Value>,
}

fn load_fixtures(host: &Host) -> Vec<Fixture> {
    fixture_files()
        .into_iter()
        .map(|p| {
            let tensors = load_safetensors(host, &p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).into_iter().collect();
            let meta = load_safetensors_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let golden: Value = serde_json::from_str(meta.get("golden").expect("metadata has \"golden\"")).expect("metadata is JSON");
            let cases: Vec<Value> = golden["cases"].as_array().expect("golden.cases is a list").clone();
            Fixture { file: p.file_name().unwrap().to_string_lossy().into_owned(), tensors, cases }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

fn a_int(a: &Value, k: &str) -> i64 {
    a[k].as_i64().unwrap_or_else(|| panic!("attr {k}: not an int: {}", a[k]))
}
fn a_isize(a: &Value, k: &str) -> isize {
    a_int(a, k) as isize
}
fn a_f64(a: &Value, k: &str) -> f64 {
    a[k].as_f64().unwrap_or_else(|| panic!("attr {k}: not a number: {}", a[k]))
}
fn a_bool(a: &Value, k: &str) -> bool {
    a[k].as_bool().unwrap_or_else(|| panic!("attr {k}: not a bool: {}", a[k]))
}
fn a_str<'a>(a: &'a Value, k: &str) -> &'a str {
    a[k].as_str().unwrap_or_else(|| panic!("attr {k}: not a string: {}", a[k]))
}
fn a_usizes(a: &Value, k: &str) -> Vec<usize> {
    a[k].as_array().unwrap_or_else(|| panic!("attr {k}: not a list: {}", a[k])).iter().map(|v| v.as_u64().unwrap() as usize).collect()
}
fn a_isizes(a: &Value, k: &str) -> Vec<isize> {
    a[k].as_array().unwrap_or_else(|| panic!("attr {k}: not a list: {}", a[k])).iter().map(|v| v.as_i64().unwrap() as isize).collect()
}
fn a_pair(a: &Value, k: &str) -> [usize; 2] {
    let v = a_usizes(a, k);
    [v[0], v[1]]
}
fn a_opt_pair(a: &Value, k: &str) -> Option<[usize; 2]> {
    if a[k].is_null() {
        None
    } else {
        Some(a_pair(a, k))
    }
}
fn reduction(a: &Value) -> Reduction {
    match a_str(a, "reduction") {
        "none" => Reduction::None,
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        r => panic!("reduction {r}"),
    }
}

/// Calls an op by its canonical name with positional attributes (for ops whose sdk function
/// does not reach the kernel in the recorded configuration, such as dropout at p = 0).
fn raw_call(name: &str, inputs: &[Option<&Tensor>], attrs: &[Attr], n_out: usize) -> Res<Vec<Tensor>> {
    let op: &'static OpCache = Box::leak(Box::new(OpCache::new(Box::leak(name.to_string().into_boxed_str()))));
    call_op(op, inputs, attrs, n_out)
}

/// Runs `op` on `ins` (the op's input order, `None` = absent optional input) with the recorded
/// attributes `a` through the sdk, returning the outputs in the order the fixture stores them.
fn run_op(op: &str, ins: &[Option<Tensor>], a: &Value) -> Res<Vec<Tensor>> {
    let t = |i: usize| ins[i].as_ref().unwrap_or_else(|| panic!("{op}: input {i} missing"));
    let o = |i: usize| ins.get(i).and_then(|x| x.as_ref());
    let one = |r: Res<Tensor>| r.map(|x| vec![x]);
    let two = |r: Res<(Tensor, Tensor)>| r.map(|(x, y)| vec![x, y]);
    let short = op.strip_prefix("ferrite::").unwrap_or(op);
    match short {
        "neg" => one(F::neg(t(0))),
        "exp" => one(F::exp(t(0))),
        "log" => one(F::log(t(0))),
        "sqrt" => one(F::sqrt(t(0))),
        "abs" => one(F::abs(t(0))),
        "relu" => one(F::relu(t(0))),
        "tanh" => one(F::tanh(t(0))),
        "sigmoid" => one(F::sigmoid(t(0))),
        "gelu" => one(F::gelu(t(0), a_str(a, "approximate"))),
        "dropout" => {
            let attrs = [Attr::Float(a_f64(a, "p")), Attr::Bool(a_bool(a, "training")), Attr::Int(0)];
            Ok(raw_call(op, &[Some(t(0))], &attrs, 2)?.into_iter().take(1).collect())
        }
        "add" => one(F::add(t(0), t(1))),
        "sub" => one(F::sub(t(0), t(1))),
        "mul" => one(F::mul(t(0), t(1))),
        "div" => one(F::div(t(0), t(1))),
        "pow" => one(F::pow(t(0), t(1))),
        "eq" => one(F::eq(t(0), t(1))),
        "ne" => one(F::ne(t(0), t(1))),
        "lt" => one(F::lt(t(0), t(1))),
        "le" => one(F::le(t(0), t(1))),
        "gt" => one(F::gt(t(0), t(1))),
        "ge" => one(F::ge(t(0), t(1))),
        "where" => one(F::where_(t(0), t(1), t(2))),
        "sum" => one(F::sum(t(0), &a_isizes(a, "dim"), a_bool(a, "keepdim"))),
        "mean" => one(F::mean(t(0), &a_isizes(a, "dim"), a_bool(a, "keepdim"))),
        "logsumexp" => one(F::logsumexp(t(0), &a_isizes(a, "dim"), a_bool(a, "keepdim"))),
        "max" => two(F::max_dim(t(0), a_isize(a, "dim"), a_bool(a, "keepdim"))),
        "min" => two(F::min_dim(t(0), a_isize(a, "dim"), a_bool(a, "keepdim"))),
        "argmax" => one(F::argmax(t(0), a_isize(a, "dim"), a_bool(a, "keepdim"))),
        "softmax" => one(F::softmax(t(0), a_isize(a, "dim"))),
        "log_softmax" => one(F::log_softmax(t(0), a_isize(a, "dim"))),
        "matmul" => one(F::matmul(t(0), t(1))),
        "bmm" => one(F::bmm(t(0), t(1))),
        "linear" => one(F::linear(t(0), t(1), o(2))),
        "conv2d" => one(F::conv2d(
            t(0),
            t(1),
            o(2),
            a_pair(a, "stride"),
            a_pair(a, "padding"),
            a_pair(a, "dilation"),
            a_int(a, "groups") as usize,
        )),
        "max_pool2d" => two(F::max_pool2d_with_indices(
            t(0),
            a_pair(a, "kernel_size"),
            a_opt_pair(a, "stride"),
            a_pair(a, "padding"),
            a_pair(a, "dilation"),
            a_bool(a, "ceil_mode"),
        )),
        "avg_pool2d" => one(F::avg_pool2d(
            t(0),
            a_pair(a, "kernel_size"),
            a_opt_pair(a, "stride"),
            a_pair(a, "padding"),
            a_bool(a, "ceil_mode"),
            a_bool(a, "count_include_pad"),
        )),
        "adaptive_max_pool2d" => two(F::adaptive_max_pool2d(t(0), a_pair(a, "output_size"))),
        "adaptive_avg_pool2d" => one(F::adaptive_avg_pool2d(t(0), a_pair(a, "output_size"))),
        "spatial_pyramid_pool" => one(F::spatial_pyramid_pool(t(0), &a_usizes(a, "levels"), a_str(a, "mode"))),
        "upsample_nearest2d" => one(F::upsample_nearest2d(t(0), a_pair(a, "output_size"))),
        "layer_norm" => one(F::layer_norm(t(0), &a_usizes(a, "normalized_shape"), o(1), o(2), a_f64(a, "eps"))),
        "batch_norm" => {
            // Fixture input order is the op's: (input, weight?, bias?, running_mean?, running_var?).
            let r = F::batch_norm(t(0), o(3), o(4), o(1), o(2), a_bool(a, "training"), a_f64(a, "momentum"), a_f64(a, "eps"))?;
            Ok(vec![r.output, r.new_running_mean, r.new_running_var])
        }
        "embedding" => one(F::embedding(t(0), t(1), a["padding_idx"].as_u64().map(|p| p as usize))),
        "cross_entropy" => one(F::cross_entropy(t(0), t(1), o(2), a_int(a, "ignore_index"), a_f64(a, "label_smoothing"), reduction(a))),
        "nll_loss" => one(F::nll_loss(t(0), t(1), o(2), a_int(a, "ignore_index"), reduction(a))),
        "mse_loss" => one(F::mse_loss(t(0), t(1), reduction(a))),
        "cat" | "stack" => {
            // `repeat`: the same input list passed that many times (one leaf used twice).
            let rep = a["repeat"].as_u64().unwrap_or(1) as usize;
            let list: Vec<&Tensor> = (0..rep).flat_map(|_| ins.iter().flatten()).collect();
            let d = a_isize(a, "dim");
            one(if short == "cat" { F::cat(&list, d) } else { F::stack(&list, d) })
        }
        "index_select" => one(F::index_select(t(0), a_isize(a, "dim"), t(1))),
        "gather" => one(F::gather(t(0), a_isize(a, "dim"), t(1))),
        "scaled_dot_product_attention" => {
            one(F::scaled_dot_product_attention(t(0), t(1), t(2), o(3), a_bool(a, "is_causal"), a["scale"].as_f64()))
        }
        _ => panic!("golden_pytorch.rs does not know how to call {op}: add it to run_op"),
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    got == want || (got.is_nan() && want.is_nan()) || (want.is_finite() && (got - want).abs() <= atol + rtol * want.abs())
}

/// Compares `got` with `want` (shape, dtype class, values); pushes one line per mismatch
/// (at most a few per tensor) onto `fails`.
fn compare(what: &str, got: &Tensor, want: &Tensor, (rtol, atol): (f64, f64), fails: &mut Vec<String>) {
    if got.shape() != want.shape() {
        fails.push(format!("{what}: shape {:?}, PyTorch {:?}", got.shape(), want.shape()));
        return;
    }
    let (gd, wd) = (got.dtype(), want.dtype());
    let exact = !wd.is_float();
    if (exact && gd != wd) || (!exact && !gd.is_float()) {
        fails.push(format!("{what}: dtype {}, PyTorch {}", gd.name(), wd.name()));
        return;
    }
    let (g, w) = (got.to_vec_f64().unwrap(), want.to_vec_f64().unwrap());
    let (rtol, atol) = if exact { (0.0, 0.0) } else { (rtol, atol) };
    let bad: Vec<String> = g
        .iter()
        .zip(&w)
        .enumerate()
        .filter(|(_, (x, y))| !close(**x, **y, rtol, atol))
        .map(|(i, (x, y))| format!("[{i}] got {x:e}, PyTorch {y:e} (diff {:e})", (x - y).abs()))
        .collect();
    if !bad.is_empty() {
        let n = bad.len();
        fails.push(format!("{what}: {n} of {} values differ (rtol {rtol:e}, atol {atol:e}): {}", g.len(), bad.into_iter().take(4).collect::<Vec<_>>().join("; ")));
    }
}

/// Runs one case; returns its mismatches (empty when it agrees with PyTorch).
fn run_case(host: &Host, fx: &Fixture, c: &Value) -> Vec<String> {
    let name = c["name"].as_str().unwrap();
    let op = c["op"].as_str().unwrap();
    let tag = format!("{}:{name} ({op})", fx.file);
    let get = |k: &str| fx.tensors.get(&format!("{name}/{k}")).unwrap_or_else(|| panic!("{tag}: tensor {name}/{k} missing")).clone();
    let grads: BTreeSet<&str> = c["grads"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
    let layouts = &c["layouts"];
    let mut leaves: Vec<(String, Tensor)> = Vec::new();
    let mut ins: Vec<Option<Tensor>> = Vec::new();
    for k in c["inputs"].as_array().unwrap() {
        let Some(k) = k.as_str() else {
            ins.push(None);
            continue;
        };
        let stored = get(&format!("in/{k}"));
        let mut t = stored.detach();
        if layouts[k].as_str() == Some("transposed") {
            // Same logical values, transposed strides: a view of a contiguous transposed copy.
            t = stored.transpose(-2, -1).unwrap().contiguous().unwrap().transpose(-2, -1).unwrap().detach();
        }
        if grads.contains(k) {
            t = t.requires_grad_(true).unwrap();
            leaves.push((k.to_string(), t.clone()));
        }
        ins.push(Some(t));
    }
    let tol = match (&c["tol"]["rtol"], &c["tol"]["atol"]) {
        (Value::Number(r), Value::Number(a)) => (r.as_f64().unwrap(), a.as_f64().unwrap()),
        _ => tolerance(op),
    };
    let outs = match run_op(op, &ins, &c["attrs"]) {
        Ok(o) => o,
        Err(e) => return vec![format!("{tag}: ops-ref failed: {e}")],
    };
    let n = c["outputs"].as_u64().unwrap() as usize;
    let mut fails = Vec::new();
    if outs.len() < n {
        return vec![format!("{tag}: {} outputs, PyTorch {n}", outs.len())];
    }
    for (i, out) in outs.iter().take(n).enumerate() {
        compare(&format!("{tag} out[{i}]"), out, &get(&format!("out/{i}")), tol, &mut fails);
    }
    let weights: Vec<usize> = c["weights"].as_array().unwrap().iter().map(|w| w.as_u64().unwrap() as usize).collect();
    if weights.is_empty() || !fails.is_empty() {
        return fails;
    }
    let mut loss: Option<Tensor> = None;
    for &i in &weights {
        let term = outs[i].mul(&get(&format!("w/{i}"))).and_then(|p| p.sum_all()).unwrap();
        loss = Some(match loss {
            None => term,
            Some(l) => l.add(&term).unwrap(),
        });
    }
    if let Err(e) = loss.unwrap().backward() {
        return vec![format!("{tag}: backward failed: {e}")];
    }
    for (k, leaf) in &leaves {
        let want = get(&format!("grad/{k}"));
        let got = match leaf.grad() {
            Some(g) => g,
            None => host.zeros(&leaf.shape(), DType::F64).unwrap(),
        };
        compare(&format!("{tag} grad[{k}]"), &got, &want, tol, &mut fails);
    }
    fails
}

#[test]
fn ops_ref_matches_pytorch_forward_and_gradients() {
    let host = with_ops_ref();
    let fixtures = load_fixtures(&host);
    let mut fails = Vec::new();
    let mut count = 0;
    for fx in &fixtures {
        for c in &fx.cases {
            fails.extend(run_case(&host, fx, c));
            count += 1;
        }
    }
    assert!(count > 100, "only {count} golden cases?");
    assert!(fails.is_empty(), "{} mismatches with PyTorch in {count} cases:\n{}", fails.len(), fails.join("\n"));
}

#[test]
fn every_exported_op_has_a_golden_fixture() {
    let host = with_ops_ref();
    let covered: BTreeSet<String> =
        load_fixtures(&host).iter().flat_map(|f| f.cases.iter().map(|c| c["op"].as_str().unwrap().to_string())).collect();
    let ops = Runtime::global().registry().summaries();
    assert!(ops.len() > 40, "ops-ref exports only {} ops?", ops.len());
    let missing: Vec<&str> = ops.iter().map(|o| o.name.as_str()).filter(|n| !covered.contains(*n)).collect();
    assert!(missing.is_empty(), "ops exported by ops-ref without a PyTorch golden fixture in tests/golden: {missing:?}");
    let unknown: Vec<&String> = covered.iter().filter(|n| !ops.iter().any(|o| &o.name == *n)).collect();
    assert!(unknown.is_empty(), "fixtures for ops ops-ref does not export: {unknown:?}");
}
