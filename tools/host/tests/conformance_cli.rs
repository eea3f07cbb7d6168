//! `ferrite conformance` end to end: exit status 0 on a conforming plugin (ops-ref against
//! itself), non-zero with a shrunk counterexample on the broken fixture, and the results
//! recorded in the database named by `FERRITE_CONFORMANCE_DB`.

use ferrite_tests::plugin_path;
use std::process::Command;

fn conformance(args: &[&str], db: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite"))
        .arg("conformance")
        .args(args)
        .env("FERRITE_CONFORMANCE_DB", db)
        .env("FERRITE_NO_BUILD", "1")
        .output()
        .expect("run ferrite");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn conformance_exit_code_and_record() {
    let dir = std::env::temp_dir().join(format!("ferrite-conformance-cli-{}", std::process::id()));
    let db = dir.join("conformance.json");
    let ops_ref = plugin_path("ferrite-ops-ref");
    let broken = plugin_path("ferrite-test-broken-ops");
    let r = ops_ref.to_str().unwrap();

    let (code, out, err) = conformance(&["--plugin", r, "--reference", r, "--op", "add", "--cases", "4"], &db);
    assert_eq!(code, Some(0), "ops-ref against itself must pass:\n{out}\n{err}");
    assert!(out.contains("ferrite::add") && out.contains("4 passed, 0 failed"), "{out}");

    let (code, out, err) = conformance(&["--plugin", broken.to_str().unwrap(), "--reference", r, "--cases", "16"], &db);
    assert_eq!(code, Some(1), "the broken plugin must fail:\n{out}\n{err}");
    assert!(out.contains("4 passed, 4 failed"), "{out}");
    assert!(out.contains("FAIL ferrite::mul cpu/f32") && out.contains("shrunk counterexample") && out.contains("shape [6]"), "{out}");
    assert!(err.contains("4 kernel(s) failed conformance"), "{err}");

    let text = std::fs::read_to_string(&db).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let recs = v["records"].as_array().unwrap();
    let find = |plugin: &str, op: &str| recs.iter().filter(|r| r["plugin"] == plugin && r["op"] == op).map(|r| r["status"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(find("broken-ops", "ferrite::mul"), vec!["fail"; 4]);
    assert_eq!(find("broken-ops", "ferrite::add"), vec!["pass"; 4]);
    assert_eq!(find("ops-ref", "ferrite::add").len(), 4);
    assert!(recs.iter().all(|r| r["date"].as_str().unwrap().ends_with('Z') && r["cases"].as_u64().unwrap() > 0));

    let (code, _, err) = conformance(&["--plugin", dir.join("missing.so").to_str().unwrap(), "--reference", r], &db);
    assert_eq!(code, Some(1));
    assert!(err.contains("missing.so"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
