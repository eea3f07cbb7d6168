//! `ferrite collectives --comm comm.local`: three ranks as threads of one process, checked
//! against the definitions of every collective; a rank that leaves is a clear error.

use std::process::Command;

use ferrite_tests::ferrite_bin;

fn collectives(args: &[&str]) -> (bool, String) {
    let plugin = ferrite_tests::plugin_path("ferrite-comm-local");
    let out = Command::new(ferrite_bin())
        .args(["collectives", "--comm", "comm.local", "--world-size", "3", "--plugin-path"])
        .arg(&plugin)
        .args(args)
        .output()
        .expect("run ferrite");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn collectives_comm_local_three_ranks_pass_and_print_the_table() {
    let (ok, out) = collectives(&["--sizes", "1K,64K", "--iters", "2"]);
    assert!(ok, "{out}");
    assert!(out.contains("comm.local: every collective matches its definition on float32, float64 and bfloat16"), "{out}");
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter_map(|l| l.split_whitespace().map(|w| w.parse::<f64>().ok()).collect::<Option<Vec<f64>>>())
        .filter(|r| r.len() == 4)
        .collect();
    assert_eq!(rows.iter().map(|r| r[0] as usize).collect::<Vec<_>>(), vec![1024, 65536], "{out}");
    for r in &rows {
        // Three ranks: busbw = algbw · 4/3 (nccl-tests), up to the printed rounding.
        assert!((r[3] - r[2] * 4.0 / 3.0).abs() <= 0.002, "{out}");
    }
}

#[test]
fn collectives_comm_local_rank_that_leaves_is_a_clear_error() {
    let (ok, out) = collectives(&["--sizes", "1K", "--iters", "1", "--simulate-failure", "2", "--timeout-ms", "2000"]);
    assert!(!ok, "{out}");
    let last = out.lines().last().unwrap_or("");
    assert!(last.starts_with("error: rank 0: all_reduce #2 failed: comm.local rank 0:"), "{out}");
}
