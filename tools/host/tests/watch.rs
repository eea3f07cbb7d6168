//! Hot swap gated by conformance ([`PluginWatcher`]), driven directly for determinism: a new
//! build that fails conformance is refused and the old kernels stay in use; a good one is
//! swapped in between steps of a training-like loop, each step entirely on one build.

use ferrite_core::Runtime;
use ferrite_host::watch::{PluginWatcher, WatchEvent};
use ferrite_sdk::{call1, DType, Host};
use ferrite_tests::{plugin_path, provider_of, with_ops_ref};
use std::path::{Path, PathBuf};

/// A private folder for the watched copies (not writable by others, as the trust policy wants).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-watch-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Replaces the file at `dst` the way a rebuild does (new bytes, new mtime).
fn install_build(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("tmp");
    std::fs::copy(src, &tmp).unwrap();
    std::fs::rename(&tmp, dst).unwrap();
}

/// `ones(1, 6) * ones(1, 6)`: broken-ops 0.1.0 gets element 5 wrong (2 instead of 1).
fn mul_row(host: &Host) -> Vec<f32> {
    let x = host.from_slice(&[1.0f32; 6], &[1, 6]).unwrap();
    call1!("ferrite::mul", [Some(&x), Some(&x)], []).unwrap().to_vec::<f32>().unwrap()
}

fn running_version(name: &str) -> String {
    Runtime::global().plugin_named(name).unwrap().meta.version.clone()
}

#[test]
fn failing_build_is_refused_and_passing_build_is_swapped_in() {
    let host = with_ops_ref();
    let rt = Runtime::global();
    let (good, bad) = (plugin_path("ferrite-test-broken-ops-v2"), plugin_path("ferrite-test-broken-ops"));
    let watched = dir("ops").join("libferrite_broken_ops.so");
    install_build(&good, &watched);
    let loaded = rt.load_plugin(&watched).unwrap();
    assert_eq!((loaded.plugin.name.as_str(), loaded.plugin.version.as_str()), ("broken-ops", "0.2.0"));
    assert_eq!(provider_of("ferrite::mul", DType::F32), "broken-ops");
    assert_eq!(mul_row(&host), vec![1.0; 6]);
    let mut w = PluginWatcher::new();
    w.watch(&rt.plugin_named("broken-ops").unwrap());
    assert!(w.poll().is_empty(), "nothing changed yet");

    // A wrong build lands at the watched path: refused, naming the op; dispatch unchanged.
    install_build(&bad, &watched);
    let events = w.poll();
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        WatchEvent::Refused { plugin, failed_ops, reason, build, .. } => {
            assert_eq!(plugin, "broken-ops");
            assert_eq!(failed_ops, &vec!["ferrite::mul".to_string()], "{reason}");
            assert!(reason.contains("ferrite::mul"), "{reason}");
            assert!(!reason.contains("ferrite::add"), "add is correct in both builds: {reason}");
            assert!(build.as_deref().is_some_and(|b| b.starts_with("0.1.0")), "{build:?}");
        }
        e => panic!("expected a refusal, got {e}"),
    }
    assert!(events[0].to_string().contains("refused broken-ops"), "{}", events[0]);
    assert_eq!(running_version("broken-ops"), "0.2.0");
    assert_eq!(mul_row(&host), vec![1.0; 6], "calls keep using the old (correct) kernels");
    assert!(w.poll().is_empty(), "a refused build is decided once");

    // Now the wrong build is the running one (loaded directly, bypassing the gate); the fixed
    // build arriving at the path passes conformance and is swapped in.
    rt.load_plugin(&watched).unwrap();
    assert_eq!(mul_row(&host)[5], 2.0);
    let mut w = PluginWatcher::new();
    w.watch(&rt.plugin_named("broken-ops").unwrap());
    install_build(&good, &watched);
    let events = w.poll();
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        WatchEvent::Swapped { plugin, from, to, checked, .. } => {
            assert_eq!(plugin, "broken-ops");
            assert!(from.starts_with("0.1.0") && to.starts_with("0.2.0"), "{from} -> {to}");
            assert_eq!(*checked, 8, "add and mul in 4 float dtypes: {}", events[0]);
        }
        e => panic!("expected a swap, got {e}"),
    }
    assert_eq!(running_version("broken-ops"), "0.2.0");
    assert_eq!(mul_row(&host), vec![1.0; 6]);

    // A file that is no longer this plugin is refused without a conformance run.
    install_build(&plugin_path("ferrite-test-swap-v1"), &watched);
    let events = w.poll();
    assert!(matches!(&events[..], [WatchEvent::Refused { reason, .. }] if reason.contains("not `broken-ops`")), "{events:?}");
    assert_eq!(mul_row(&host), vec![1.0; 6]);
}

fn add_flavor(host: &Host, v: f32) -> f32 {
    let x = host.from_slice(&[v], &[1]).unwrap();
    call1!("test::add_flavor", [Some(&x)], []).unwrap().to_vec::<f32>().unwrap()[0]
}

#[test]
fn swap_happens_between_steps_of_a_training_loop() {
    let host = with_ops_ref();
    let rt = Runtime::global();
    let watched = dir("swap").join("libferrite_test_swap.so");
    install_build(&plugin_path("ferrite-test-swap-v1"), &watched);
    rt.load_plugin(&watched).unwrap();
    let mut w = PluginWatcher::new();
    w.watch(&rt.plugin_named("test-swap").unwrap());
    let log = dir("swap").join("plugins.log");
    let _ = std::fs::remove_file(&log);

    const STEPS: usize = 20;
    const REBUILT_DURING: usize = 7;
    let mut flavors = Vec::new();
    let mut events = Vec::new();
    for step in 0..STEPS {
        // Step boundary: the only place a swap may happen.
        for e in w.poll() {
            ferrite_host::watch::record(&e, &log).unwrap();
            events.push((step, e));
        }
        // A "step": several kernel calls that must all see the same build.
        let seen: Vec<f32> = (0..5).map(|_| add_flavor(&host, 0.0)).collect();
        assert!(seen.iter().all(|&f| f == seen[0]), "step {step} ran on two builds: {seen:?}");
        if step == REBUILT_DURING {
            install_build(&plugin_path("ferrite-test-swap-v2"), &watched); // rebuilt mid-step
            assert_eq!(add_flavor(&host, 0.0), seen[0], "no swap inside a step");
        }
        flavors.push(seen[0]);
    }
    assert_eq!(flavors.len(), STEPS, "every step ran");
    let want: Vec<f32> = (0..STEPS).map(|s| if s <= REBUILT_DURING { 1.0 } else { 1000.0 }).collect();
    assert_eq!(flavors, want);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, REBUILT_DURING + 1, "swapped at the next step boundary");
    assert!(events[0].1.swapped(), "{}", events[0].1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("swapped test-swap"), "{text}");
}
