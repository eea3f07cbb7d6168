//! `ferrite collectives --comm comm.mpi` under `mpirun -np 2`: every collective checked
//! against its definition, the bandwidth table, and a rank that dies mid-job ending the whole
//! job with a clear error instead of a hang. Needs Open MPI (`.ci/run` installs it).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrite_tests::ferrite_bin;

/// `mpirun -np 2 ferrite collectives --comm comm.mpi <args>` (as root too), killed if it runs
/// past `limit`; returns (exit success, stdout + stderr, elapsed).
fn mpirun(mpirun_args: &[&str], args: &[&str], limit: Duration) -> (bool, String, Duration) {
    let plugin = ferrite_tests::plugin_path("ferrite-comm-mpi");
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe"])
        .args(mpirun_args)
        .args(["-np", "2"])
        .arg(ferrite_bin())
        .args(["collectives", "--comm", "comm.mpi", "--plugin-path"])
        .arg(&plugin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("mpirun must be installed (apt-get install openmpi-bin libopenmpi-dev)");
    // Drain the pipes on threads so a chatty job cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for mpirun") {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mpirun {args:?} still running after {limit:?}: a dead rank must not hang the job");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!("{}{}", o.join().unwrap_or_default(), e.join().unwrap_or_default());
    (status.success(), text, t0.elapsed())
}

#[test]
fn mpi_collectives_pass_and_print_the_bandwidth_table() {
    let (ok, out, _) = mpirun(&[], &["--sizes", "1K,64K", "--iters", "2"], Duration::from_secs(120));
    assert!(ok, "mpirun failed:\n{out}");
    assert!(out.contains("comm.mpi: every collective matches its definition on float32, float64 and bfloat16"), "{out}");
    assert!(out.contains("algbw (GB/s)") && out.contains("busbw (GB/s)"), "{out}");
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter_map(|l| l.split_whitespace().map(|w| w.parse::<f64>().ok()).collect::<Option<Vec<f64>>>())
        .filter(|r| r.len() == 4)
        .collect();
    // Rank 0 alone prints: exactly one row per size.
    assert_eq!(rows.iter().map(|r| r[0] as usize).collect::<Vec<_>>(), vec![1024, 65536], "{out}");
    for r in &rows {
        // Times are positive; a 1 KiB bandwidth printed with 3 decimals may read 0.000 on a
        // loaded machine, so only its sign is checked.
        assert!(r[1] > 0.0 && r[2] >= 0.0, "{out}");
        // Two ranks: busbw = algbw · 2(2−1)/2 = algbw (nccl-tests).
        assert!((r[3] - r[2]).abs() <= 0.0015, "{out}");
    }
}

#[test]
fn mpi_dead_rank_ends_the_whole_job_with_an_error() {
    let args = ["--sizes", "1K", "--iters", "2", "--simulate-failure", "1", "--timeout-ms", "5000"];
    let (ok, out, took) = mpirun(&[], &args, Duration::from_secs(30));
    assert!(!ok, "a job with a dead rank must fail:\n{out}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(out.contains("rank 1: --simulate-failure"), "{out}");
    // Open MPI's own report of the rank that exited, or our deadline message.
    assert!(out.contains("exited with non-zero status") || out.contains("did not complete within 5000 ms (peer dead or stuck)"), "{out}");
}

#[test]
fn mpi_timeout_names_the_collective_when_mpirun_keeps_the_job_alive() {
    // Told not to kill the job when rank 1 exits, Open MPI leaves rank 0 waiting in its
    // all_reduce: our deadline must fire and name it, then MPI_Abort ends the job.
    let args = ["--sizes", "1K", "--iters", "2", "--simulate-failure", "1", "--timeout-ms", "2000"];
    let (ok, out, _) = mpirun(&["--mca", "orte_abort_on_non_zero_status", "0"], &args, Duration::from_secs(30));
    assert!(!ok, "{out}");
    assert!(out.contains("comm.mpi rank 0: all_reduce #2 did not complete within 2000 ms (peer dead or stuck)"), "{out}");
    // (Open MPI's "MPI_ABORT was invoked" banner is not asserted: mpirun sometimes garbles it
    // with "ORTE_ERROR_LOG: Data unpack would read past end of buffer" in show_help.c.)
}

#[test]
fn mpi_singleton_second_create_reuses_mpi_and_checks_its_config() {
    // Without mpirun, MPI_Init makes a singleton world of 1 (MPI-3.1 §10.5.2).
    use ferrite_core::comm::ProcessGroup;
    use ferrite_core::{Runtime, Tensor};
    use ferrite_sdk::abi::comm::reduce_op;
    use ferrite_sdk::DType;
    let rt = Runtime::global();
    rt.load_plugin(&ferrite_tests::plugin_path("ferrite-comm-mpi")).expect("load comm.mpi");
    let a = rt.create_comm("comm.mpi", "timeout_ms = 5000").expect("first create");
    // The second create finds MPI initialised and must neither re-initialise nor fail.
    let b = rt.create_comm("comm.mpi", "").expect("second create");
    assert_eq!((a.len(), b.len()), (1, 1));
    let (ga, gb) = (
        ProcessGroup::new(a.into_iter().next().unwrap(), Duration::from_secs(30)),
        ProcessGroup::new(b.into_iter().next().unwrap(), Duration::from_secs(30)),
    );
    let d = ga.describe().to_string();
    assert!(d.starts_with("comm.mpi rank 0/1 (") && d.ends_with("), timeout 5000 ms"), "{d}");
    assert!(gb.describe().ends_with("timeout 60000 ms"), "{}", gb.describe());
    for g in [&ga, &gb] {
        // bf16 travels as f32: AVG over one rank must give the values back exactly.
        let t = Tensor::from_f64(&[3], &[1.5, -2.0, 3.0], DType::BF16).unwrap();
        g.wait(g.all_reduce(&t, reduce_op::AVG).unwrap()).unwrap();
        assert_eq!(t.to_f64_vec(), vec![1.5, -2.0, 3.0]);
    }
    let e = rt.create_comm("comm.mpi", "world_size = 2").err().expect("world size mismatch").to_string();
    assert!(e.contains("world_size = 2 in the config, but MPI_COMM_WORLD has 1 processes"), "{e}");
    let e = rt.create_comm("comm.mpi", "timeout = 5").err().expect("unknown key").to_string();
    assert!(e.contains("unknown field `timeout`"), "{e}");
}
