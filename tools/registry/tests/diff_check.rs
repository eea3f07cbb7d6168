//! `ferrite-registry diff` and `check` against the test fixtures (built on demand).

use ferrite_tests::plugin_path;
use std::path::{Path, PathBuf};
use std::process::Command;

fn registry(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite-registry")).args(args).output().expect("run ferrite-registry");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh temporary directory for this test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-registry-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn diff_of_swap_builds_reports_exactly_the_plugin_version_change() {
    let (v1, v2) = (plugin_path("ferrite-test-swap-v1"), plugin_path("ferrite-test-swap-v2"));
    let (code, out, err) = registry(&["diff", s(&v1), s(&v2), "--json"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["old"]["abi"], "compatible");
    assert_eq!(v["new"]["abi"], "compatible");
    assert_eq!(v["identical"], false);
    let d = &v["diff"];
    assert_eq!(d["plugin_version"], serde_json::json!({"old": "0.1.0", "new": "0.2.0"}));
    for (k, x) in d.as_object().unwrap() {
        if k != "plugin_version" {
            assert!(x.is_null() || x.as_array().is_some_and(Vec::is_empty) || x.as_object().is_some_and(|o| o.is_empty()), "{k}: {x}");
        }
    }
    let (code, out, _) = registry(&["diff", s(&v1), s(&v2)]);
    assert_eq!(code, Some(1));
    let changes: Vec<&str> = out.lines().filter(|l| !l.starts_with("old:") && !l.starts_with("new:")).collect();
    assert_eq!(changes, vec!["~ plugin version: 0.1.0 -> 0.2.0"], "{out}");
    let (code, out, _) = registry(&["diff", s(&v1), s(&v1)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("identical exports"), "{out}");
}

#[test]
fn diff_with_an_unloadable_file_reports_the_error_and_exits_2() {
    let (v1, bad) = (plugin_path("ferrite-test-swap-v1"), plugin_path("ferrite-test-abi-mismatch"));
    let (code, out, _) = registry(&["diff", s(&v1), s(&bad)]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("new:") && out.contains("incompatible plugin ABI"), "{out}");
}

#[test]
fn check_passes_the_reference_plugin() {
    let (code, out, err) = registry(&["check", s(&plugin_path("ferrite-ops-ref"))]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("abi: loaded") && out.contains("plugin: ops-ref"), "{out}");
}

#[test]
fn check_fails_a_plugin_that_fails_conformance() {
    let (code, out, err) = registry(&["check", s(&plugin_path("ferrite-test-broken-ops"))]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("conformance: fail") && out.contains("failed: ferrite::mul cpu/f32"), "{out}");
    assert!(!out.contains("failed: ferrite::add"), "{out}");
}

#[test]
fn check_reports_a_non_library_as_a_load_error_and_survives() {
    let fake = tmp("text").join("libfake.so");
    std::fs::write(&fake, "just some text\n").unwrap();
    let (code, out, err) = registry(&["check", s(&fake)]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("abi: error:") && out.contains("not a shared library"), "{out}");
}

#[test]
fn check_reports_an_abi_mismatch_in_one_line() {
    let (code, out, err) = registry(&["check", s(&plugin_path("ferrite-test-abi-mismatch"))]);
    assert_eq!(code, Some(1), "{out}{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("abi:")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains("incompatible plugin ABI") && lines[0].len() < 400, "{out}");
}

/// A shared library whose constructor segfaults kills the child, not the tool (needs `cc`).
#[test]
fn check_survives_a_segfaulting_constructor() {
    let dir = tmp("crash");
    let src = dir.join("crash.c");
    std::fs::write(&src, "__attribute__((constructor)) static void boom(void) { *(volatile int *)0 = 1; }\n").unwrap();
    let so = dir.join("libcrash.so");
    match Command::new("cc").args(["-shared", "-fPIC", "-o", s(&so), s(&src)]).status() {
        Ok(st) if st.success() => {}
        _ => {
            eprintln!("skipped: no working C compiler");
            return;
        }
    }
    let (code, out, err) = registry(&["check", s(&so)]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("crashed") && out.contains("SIGSEGV"), "{out}");
}
