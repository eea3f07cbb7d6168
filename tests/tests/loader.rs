//! Plugin loader: refusing what is not a plugin, ABI mismatches, kernel panics, hot swap.

use ferrite_core::Runtime;
use ferrite_sdk::{call1, Host};
use ferrite_tests::{plugin_path, with_ops_ref};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn load_err(path: &std::path::Path) -> String {
    match Runtime::global().load_plugin(path) {
        Ok(r) => panic!("{} loaded as plugin {}", path.display(), r.plugin.name),
        Err(e) => e.to_string(),
    }
}

#[test]
fn text_file_named_so_is_refused() {
    let dir = std::env::temp_dir().join(format!("ferrite-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("libnot_a_plugin.so");
    std::fs::write(&p, "this is just text, not an ELF shared object\n".repeat(100)).unwrap();
    let e = load_err(&p);
    assert!(e.contains("not a shared library"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
}

#[test]
fn missing_file_is_refused() {
    let e = load_err(std::path::Path::new("/nonexistent/libnothing.so"));
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn library_without_root_module_is_refused() {
    let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("libm present");
    let e = load_err(&libm);
    assert!(e.contains("not a Ferrite plugin"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
}

#[test]
fn plugin_built_for_another_abi_is_refused_in_one_line() {
    let e = load_err(&plugin_path("ferrite-test-abi-mismatch"));
    assert!(e.contains("incompatible plugin ABI"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert!(e.len() < 400, "summarised, not abi_stable's full report: {e}");
}

#[test]
fn plugin_built_against_another_sdk_major_is_refused_in_one_line() {
    let e = load_err(&plugin_path("ferrite-test-sdk-major"));
    assert!(e.contains("ferrite-sdk 2.0.0") && e.contains(ferrite_sdk::SDK_VERSION) && e.contains("rebuild"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
}

fn add_flavor(host: &Host, v: f32) -> f32 {
    let x = host.from_slice(&[v], &[1]).unwrap();
    call1!("test::add_flavor", [Some(&x)], []).unwrap().to_vec::<f32>().unwrap()[0]
}

#[test]
fn panicking_kernel_is_an_error_and_the_host_keeps_running() {
    let host = with_ops_ref();
    Runtime::global().load_plugin(&plugin_path("ferrite-test-swap-v1")).unwrap();
    let x = host.from_slice(&[1.0f32], &[1]).unwrap();
    let err = call1!("test::panics", [Some(&x)], []).unwrap_err().to_string();
    assert!(err.contains("panicked") && err.contains("deliberate panic"), "{err}");
    // still alive and dispatching
    assert_eq!(add_flavor(&host, 1.0), 2.0);
    let y = ferrite_sdk::functional::relu(&x).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0]);
}

#[test]
fn deprecated_name_still_resolves_to_its_replacement() {
    let host = with_ops_ref();
    Runtime::global().load_plugin(&plugin_path("ferrite-test-swap-v1")).unwrap();
    assert_eq!(host.resolve_op("test.old_panics").unwrap(), host.resolve_op("test::panics").unwrap());
}

#[test]
fn hot_swap_under_concurrent_calls() {
    let host = with_ops_ref();
    Runtime::global().load_plugin(&plugin_path("ferrite-test-swap-v1")).unwrap();
    let v2 = plugin_path("ferrite-test-swap-v2");
    assert_eq!(add_flavor(&host, 0.0), 1.0);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let host = ferrite_core::host();
                let (mut v1_calls, mut v2_calls) = (0usize, 0usize);
                while !stop.load(Ordering::Relaxed) {
                    match add_flavor(&host, 0.0) {
                        1.0 => {
                            assert_eq!(v2_calls, 0, "went back to v1 after serving v2");
                            v1_calls += 1
                        }
                        1000.0 => v2_calls += 1,
                        other => panic!("impossible result {other}"),
                    }
                }
                (v1_calls, v2_calls)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let report = Runtime::global().load_plugin(&v2).unwrap();
    assert_eq!(report.replaced.as_ref().map(|p| p.version.as_str()), Some("0.1.0"));
    assert_eq!(report.plugin.version, "0.2.0");
    std::thread::sleep(std::time::Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let (a, b) = w.join().expect("worker ok");
        assert!(a > 0 && b > 0, "served by v1 {a} times and by v2 {b} times");
    }
    assert_eq!(add_flavor(&host, 0.0), 1000.0);
}
