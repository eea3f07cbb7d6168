//! The conformance suite run on known plugins: ops-ref against itself must pass (a sanity check
//! of the generators, the tolerance table and the runner), and the deliberately broken fixture
//! `broken-ops` must be caught — `add` passes, `mul` fails — with a counterexample shrunk to a
//! last dim of exactly 6 (the smallest that triggers its bug) and small other dims.

use ferrite_conformance::report::table;
use ferrite_conformance::runner::{run, RunConfig, Status};
use ferrite_core::Runtime;
use ferrite_sdk::DType;
use ferrite_tests::{plugin_path, with_ops_ref};

fn cases(default: u32) -> u32 {
    std::env::var("FERRITE_CONFORMANCE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn ops_ref_conforms_to_itself() {
    let _host = with_ops_ref();
    let cfg = RunConfig { cases: cases(6), ..RunConfig::new("ops-ref") };
    let rep = run(&cfg).unwrap();
    println!("{}", table(&rep));
    assert!(rep.rows.len() >= 200, "only {} kernels", rep.rows.len());
    let untested: Vec<String> = rep.rows.iter().filter(|r| matches!(r.status, Status::Untested(_))).map(|r| format!("{} {}", r.op, r.dtype.short())).collect();
    assert!(untested.is_empty(), "kernels without a check: {untested:?}");
    assert!(rep.passed(), "ops-ref disagrees with itself:\n{}", table(&rep));
}

#[test]
fn broken_plugin_is_caught_with_a_shrunk_counterexample() {
    let _host = with_ops_ref();
    Runtime::global().load_plugin(&plugin_path("ferrite-test-broken-ops")).unwrap();
    let rep = run(&RunConfig { cases: cases(32), ..RunConfig::new("broken-ops") }).unwrap();
    let text = table(&rep);
    println!("{text}");
    assert!(!rep.passed());
    for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let add = rep.row("ferrite::add", dt).unwrap();
        assert_eq!(add.status, Status::Pass, "add {dt}:\n{text}");
        assert_eq!(add.cases, 32.min(cases(32)));
        let mul = rep.row("ferrite::mul", dt).unwrap();
        assert_eq!(mul.status, Status::Fail, "mul {dt}:\n{text}");
        let f = mul.failure.as_ref().unwrap();
        let shapes: Vec<&Vec<usize>> = f.case.inputs.iter().flatten().map(|i| &i.shape).collect();
        let last = shapes.iter().filter_map(|s| s.last().copied()).max();
        assert_eq!(last, Some(6), "mul {dt}: not shrunk to a last dim of 6: {shapes:?}\n{text}");
        for s in &shapes {
            assert!(s[..s.len().saturating_sub(1)].iter().all(|&d| d <= 1), "mul {dt}: other dims not shrunk: {shapes:?}");
        }
        assert!(f.mismatch.part.contains("forward output 0"), "{}", f.mismatch.part);
        assert!((f.mismatch.max_abs_err - 1.0).abs() < 0.1, "max error {}", f.mismatch.max_abs_err);
    }
    assert!(text.contains("shrunk counterexample") && text.contains("strides"), "{text}");
}
