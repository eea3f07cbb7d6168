//! Printing a [`Report`]: the pass/fail table, then each failure with its shrunk counterexample.

use crate::runner::{Report, Status};
use std::fmt::Write;

/// The table: one row per (op, device, dtype) with status, cases run, cases both sides
/// rejected with an error, and the worst error in units of the tolerance; then every failure
/// in full.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "conformance of {} {} (sha256 {}) against ops-ref", r.plugin, r.version, short_sha(&r.sha256));
    let _ = writeln!(s, "{:<40} {:<6} {:<5} {:<11} {:>5} {:>8} {:>8}", "OP", "DEVICE", "DTYPE", "STATUS", "CASES", "REJECTED", "ERR/TOL");
    for row in &r.rows {
        let err = match row.status {
            Status::Pass | Status::SelfPass => format!("{:.3}", row.worst),
            Status::Fail | Status::SelfFail | Status::Untested(_) => "-".to_string(),
        };
        let _ = writeln!(s, "{:<40} {:<6} {:<5} {:<11} {:>5} {:>8} {:>8}", row.op, row.device, row.dtype.short(), row.status.as_str(), row.cases, row.rejected, err);
    }
    let pass = r.rows.iter().filter(|x| x.status.is_pass()).count();
    let fail = r.rows.iter().filter(|x| x.status.is_fail()).count();
    let selfc = r.rows.iter().filter(|x| x.status.is_self()).count();
    let _ = writeln!(s, "{pass} passed, {fail} failed, {} untested", r.rows.len() - pass - fail);
    if selfc > 0 {
        let _ = writeln!(
            s,
            "{selfc} kernels marked (self) have no reference kernel: checked for self-consistency (each dtype against the plugin's own f64 kernel, its f64 backward against finite differences) on inputs generated from the op schema"
        );
    }
    for row in &r.rows {
        if let Status::Untested(why) = &row.status {
            let _ = writeln!(s, "untested {} {}/{}: {why}", row.op, row.device, row.dtype.short());
        }
    }
    for row in r.rows.iter().filter(|r| r.status.is_fail()) {
        if let Some(f) = &row.failure {
            let _ = writeln!(s, "\nFAIL {} {}/{}: {}", row.op, row.device, row.dtype.short(), f.mismatch.part);
            let _ = writeln!(s, "  {}", f.mismatch.detail);
            let _ = writeln!(s, "  max |error|: {:e}", f.mismatch.max_abs_err);
            let _ = writeln!(s, "  shrunk counterexample:");
            for line in f.case.to_string().lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
    }
    s
}

/// The first 16 hex digits of a SHA-256.
pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(16)]
}
