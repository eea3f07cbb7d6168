//! Printing a [`Report`]: the pass/fail table, then each failure with its shrunk counterexample.

use crate::runner::{Report, Status};
use std::fmt::Write;

/// The table: one row per (op, device, dtype) with status, cases run, cases both sides
/// rejected with an error, and the worst error in units of the tolerance; then every failure
/// in full.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "conformance of {} {} (sha256 {}) against ops-ref", r.plugin, r.version, short_sha(&r.sha256));
    let _ = writeln!(s, "{:<40} {:<6} {:<5} {:<8} {:>5} {:>8} {:>8}", "OP", "DEVICE", "DTYPE", "STATUS", "CASES", "REJECTED", "ERR/TOL");
    for row in &r.rows {
        let err = match row.status {
            Status::Pass => format!("{:.3}", row.worst),
            Status::Fail => "-".to_string(),
            Status::Untested(_) => "-".to_string(),
        };
        let _ = writeln!(s, "{:<40} {:<6} {:<5} {:<8} {:>5} {:>8} {:>8}", row.op, row.device, row.dtype.short(), row.status.as_str(), row.cases, row.rejected, err);
    }
    let (pass, fail) = (count(r, "pass"), count(r, "fail"));
    let _ = writeln!(s, "{pass} passed, {fail} failed, {} untested", r.rows.len() - pass - fail);
    for row in &r.rows {
        if let Status::Untested(why) = &row.status {
            let _ = writeln!(s, "untested {} {}/{}: {why}", row.op, row.device, row.dtype.short());
        }
    }
    for row in r.rows.iter().filter(|r| r.status == Status::Fail) {
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

fn count(r: &Report, status: &str) -> usize {
    r.rows.iter().filter(|x| x.status.as_str() == status).count()
}

/// The first 16 hex digits of a SHA-256.
pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(16)]
}
