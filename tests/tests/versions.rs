//! Two versions of one op loaded side by side: `test::add_flavor` v1 (plugin `test-swap`, adds
//! 1) and v2 (plugin `test-versions`, adds 2000). Bare names resolve to the newest version,
//! `name@N` to version N, pins redirect bare names. Everything runs in one test because pins
//! and loaded plugins are process-wide.

use ferrite_core::Runtime;
use ferrite_sdk::call1;
use ferrite_tests::{plugin_path, with_ops_ref};

/// Calls `test::add_flavor` (under the given literal name) on 0.0. Each expansion is its own
/// call site, with its own cached op id.
macro_rules! flavor {
    ($host:expr, $name:literal) => {{
        let x = $host.from_slice(&[0.0f32], &[1]).unwrap();
        call1!($name, [Some(&x)], []).map(|t| t.to_vec::<f32>().unwrap()[0])
    }};
}

fn load_both() -> ferrite_sdk::Host {
    let host = with_ops_ref();
    let rt = Runtime::global();
    rt.load_plugin(&plugin_path("ferrite-test-swap-v1")).expect("load swap-v1");
    let report = rt.load_plugin(&plugin_path("ferrite-test-versions-v2")).expect("load versions-v2");
    assert!(report.warnings.iter().all(|w| !w.contains("add_flavor")), "no schema conflict between versions: {:?}", report.warnings);
    host
}

#[test]
fn two_versions_side_by_side_resolve_pin_and_swap() {
    let host = load_both();
    let rt = Runtime::global();

    // Newest by default, through every name; explicit versions.
    assert_eq!(flavor!(host, "test::add_flavor").unwrap(), 2000.0);
    assert_eq!(flavor!(host, "test.add_flavor").unwrap(), 2000.0);
    assert_eq!(flavor!(host, "test::add_flavor@1").unwrap(), 1.0);
    assert_eq!(flavor!(host, "test::add_flavor@2").unwrap(), 2000.0);
    assert_eq!(flavor!(host, "test.add_flavor@1").unwrap(), 1.0);
    let v1 = rt.resolve_op("test::add_flavor@1").unwrap();
    let v2 = rt.resolve_op("test::add_flavor@2").unwrap();
    assert_ne!(v1, v2, "two versions, two ids");
    assert_eq!(rt.resolve_op("test::add_flavor").unwrap(), v2);
    assert_eq!(rt.resolve_op("test.add_flavor_v2").unwrap(), v2);

    // Unknown version: one line naming the loaded ones.
    let e = rt.resolve_op("test::add_flavor@7").unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains('7') && e.contains("1, 2"), "{e}");
    let e = flavor!(host, "test::add_flavor@7").unwrap_err().to_string();
    assert!(e.contains("1, 2"), "{e}");

    // Pinning by the canonical name redirects every bare name of the op.
    let before = rt.resolve_op("test::add_flavor").unwrap();
    rt.pin_op_version("test::add_flavor", 1).unwrap();
    assert_eq!(flavor!(host, "test::add_flavor").unwrap(), 1.0);
    assert_eq!(flavor!(host, "test.add_flavor").unwrap(), 1.0);
    assert_eq!(rt.resolve_op("test::add_flavor").unwrap(), v1);
    assert_eq!(before, v2, "an id resolved before the pin keeps naming version 2");
    assert_eq!(flavor!(host, "test::add_flavor@2").unwrap(), 2000.0, "explicit versions ignore pins");
    let e = rt.pin_op_version("test::add_flavor", 7).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("1, 2"), "{e}");
    assert!(rt.pin_op_version("test::no_such_op", 1).is_err());
    // Pinning through an API name pins the op.
    rt.unpin_op_version("test::add_flavor");
    assert_eq!(rt.resolve_op("test::add_flavor").unwrap(), v2);
    rt.pin_op_version("test.add_flavor", 1).unwrap();
    assert_eq!(rt.resolve_op("test::add_flavor").unwrap(), v1);
    assert_eq!(rt.op_version_pins(), vec![("test::add_flavor".to_string(), 1)]);
    rt.unpin_op_version("test.add_flavor");
    assert!(rt.op_version_pins().is_empty());

    // Registry: two rows, one per version.
    let reg = rt.registry();
    let rows: Vec<_> = reg.summaries().into_iter().filter(|s| s.name == "test::add_flavor").collect();
    assert_eq!(rows.iter().map(|r| r.version).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(rows[0].plugins, vec!["test-swap".to_string()]);
    assert_eq!(rows[1].plugins, vec!["test-versions".to_string()]);
    assert_eq!(reg.versions_of("test.add_flavor"), vec![1, 2]);
    drop(reg);

    // Hot-swapping the plugin providing v1 replaces its version only; v2 stays.
    let report = rt.load_plugin(&plugin_path("ferrite-test-swap-v2")).unwrap();
    assert!(report.replaced.is_some());
    assert_eq!(flavor!(host, "test::add_flavor@1").unwrap(), 1000.0);
    assert_eq!(flavor!(host, "test::add_flavor").unwrap(), 2000.0);
    assert_eq!(rt.resolve_op("test::add_flavor@1").unwrap(), v1, "ids survive a swap");
}
