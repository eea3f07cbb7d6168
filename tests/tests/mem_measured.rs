//! `ferrite mem --measure`: the per-phase estimate of `tools/host/src/mem/peak.rs` against the
//! core allocator's measured peak of a real MLP training run, within 10%, for one process (SGD,
//! AdamW) and ZeRO stages 1–3 on 2 ranks over comm.local (the process peak against 2 × the
//! per-rank estimate).

use ferrite_core::Runtime;
use ferrite_host::mem::measure::{measure, rel, Comparison, MeasureSpec};
use ferrite_host::mem::peak::Strategy;
use ferrite_host::mem::Optimizer;
use ferrite_tests::{plugin_path, with_ops_cpu};
use std::sync::{Mutex, OnceLock};

/// The allocator's counters are process-wide: one measurement at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn run(optimizer: Optimizer, strategy: Strategy, world_size: u32) -> Comparison {
    static LOADED: OnceLock<()> = OnceLock::new();
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    with_ops_cpu();
    LOADED.get_or_init(|| {
        for c in ["ferrite-comm-local", "ferrite-parallel-ddp", "ferrite-parallel-zero"] {
            Runtime::global().load_plugin(&plugin_path(c)).unwrap_or_else(|e| panic!("loading {c}: {e}"));
        }
    });
    // 8 × Linear(354, 354): 1.0M parameters, 4 MB of fp32 weights; batch 4 keeps activations small.
    let spec = MeasureSpec { params: 1.0e6, layers: 8, batch: 4, optimizer, strategy, world_size, steps: 3 };
    // The estimate is world_size × the per-rank peak: all ranks at their peak together. Inside
    // the optimizer step (no collective) a loaded machine can run the rank threads apart, which
    // only lowers the process peak; so a low reading is re-measured (up to 3 runs, the highest
    // kept). A reading above the estimate is never retried.
    let mut c = measure(&spec).unwrap();
    for _ in 0..2 {
        if world_size == 1 || c.peak_error() >= -0.10 {
            break;
        }
        let again = measure(&spec).unwrap();
        if again.peak > c.peak {
            c = again;
        }
    }
    let report = ferrite_host::mem::measure::report(&c);
    println!("{report}");
    assert!(c.peak_error().abs() <= 0.10, "peak off by {:.1}%:\n{report}", 100.0 * c.peak_error());
    let n = f64::from(world_size);
    for (what, e, m) in [("after setup", c.est_setup.total() * n, c.setup), ("between steps", c.est_between.total() * n, c.between)] {
        assert!(rel(m, e).abs() <= 0.10, "{what} off by {:.1}%:\n{report}", 100.0 * rel(m, e));
    }
    c
}

#[test]
fn one_process_sgd_peak_matches_the_estimate() {
    let c = run(Optimizer::Sgd, Strategy::None, 1);
    assert_eq!(c.est_peak.name, "optimizer step");
}

#[test]
fn one_process_adamw_peak_matches_the_estimate() {
    run(Optimizer::Adamw, Strategy::None, 1);
}

#[test]
fn zero_stage_1_on_2_ranks_matches_the_estimate() {
    run(Optimizer::Adamw, Strategy::Zero(1), 2);
}

#[test]
fn zero_stage_2_on_2_ranks_matches_the_estimate() {
    run(Optimizer::Adamw, Strategy::Zero(2), 2);
}

#[test]
fn zero_stage_3_on_2_ranks_matches_the_estimate_and_holds_less_than_stage_2() {
    let c3 = run(Optimizer::Adamw, Strategy::Zero(3), 2);
    let c2 = run(Optimizer::Adamw, Strategy::Zero(2), 2);
    assert!(c3.peak < c2.peak && c3.between < c2.between, "stage 3 {} / {} vs stage 2 {} / {}", c3.peak, c3.between, c2.peak, c2.between);
}

#[test]
fn zero_stage_3_sgd_peaks_in_backward_and_matches() {
    // The optimizers update in chunks, in place, so the step holds a few chunk-sized
    // temporaries; ZeRO-3's peak is then backward: gathered modules, one module's gradients,
    // the reductions in flight and the shard gradient (each term checked by the match).
    let c = run(Optimizer::Sgd, Strategy::Zero(3), 2);
    assert_eq!(c.est_peak.name, "backward");
}
