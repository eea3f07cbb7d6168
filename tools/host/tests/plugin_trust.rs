//! Plugin trust end to end: `ferrite plugins lock` records the plugins found; a plugin file
//! changed after locking (or not locked at all) is refused with one line until it is locked
//! again or `--allow-unlocked` is given; a world-writable plugin directory is refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `ferrite` in `cwd` with discovery limited to `plugins` (plus the default plugins
/// beside the binary); returns (success, stdout, stderr).
fn ferrite(cwd: &Path, plugins: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrite"));
    cmd.args(args)
        .current_dir(cwd)
        .env("FERRITE_PLUGIN_PATH", plugins)
        .env("FERRITE_NO_BUILD", "1")
        .env_remove("FERRITE_ALLOW_UNLOCKED")
        .env_remove("FERRITE_PLUGIN_LOCK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run ferrite");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A fresh scratch directory `<tmp>/ferrite-trust-<pid>-<name>` holding `plugins/` with a copy
/// of ops-ref (both owner-writable only); the default plugins are built if missing.
fn setup(name: &str) -> (PathBuf, PathBuf) {
    for p in ["ferrite-ops-cpu", "ferrite-model-spp-net", "ferrite-dataset-digits"] {
        ferrite_tests::plugin_path(p);
    }
    let ops_ref = ferrite_tests::plugin_path("ferrite-ops-ref");
    let dir = std::env::temp_dir().join(format!("ferrite-trust-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let plugins = dir.join("plugins");
    fs::create_dir_all(&plugins).unwrap();
    for d in [&dir, &plugins] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = plugins.join("libferrite_ops_ref.so");
    fs::copy(&ops_ref, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, plugins)
}

/// The single `error:` line of a failed run.
fn error_line(err: &str) -> &str {
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    lines[0]
}

#[test]
fn lock_refuses_a_changed_plugin_until_relocked_or_allowed() {
    let (dir, plugins) = setup("lock");
    let (ok, out, err) = ferrite(&dir, &plugins, &["plugins", "lock"], &[]);
    assert!(ok, "lock failed:\n{out}\n{err}");
    let lock = fs::read_to_string(dir.join("ferrite-plugins.lock")).expect("lock written in the current directory");
    for f in ["libferrite_ops_ref.so", "libferrite_ops_cpu.so", "libferrite_model_spp_net.so", "libferrite_dataset_digits.so"] {
        assert!(lock.contains(f), "{f} not locked:\n{lock}");
    }
    assert!(lock.contains("sha256 = \""), "{lock}");
    let (ok, out, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(ok && out.contains("ops-ref"), "unchanged plugins load under the lock:\n{out}\n{err}");

    // Change the copy by one byte.
    let so = plugins.join("libferrite_ops_ref.so");
    let mut bytes = fs::read(&so).unwrap();
    bytes.push(0);
    fs::write(&so, &bytes).unwrap();
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(!ok, "a changed plugin must be refused");
    let line = error_line(&err);
    for part in ["libferrite_ops_ref.so", "changed since it was locked as ops-ref", "sha256 ", " != ", "ferrite plugins lock", "--allow-unlocked"] {
        assert!(line.contains(part), "`{part}` missing from: {line}");
    }

    // Development overrides: the flag and the environment variable.
    let (ok, out, err) = ferrite(&dir, &plugins, &["--allow-unlocked", "plugins"], &[]);
    assert!(ok && out.contains("ops-ref"), "--allow-unlocked loads it:\n{out}\n{err}");
    assert!(err.contains("changed since it was locked"), "with a warning:\n{err}");
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[("FERRITE_ALLOW_UNLOCKED", "1")]);
    assert!(ok, "FERRITE_ALLOW_UNLOCKED=1 loads it:\n{err}");

    // An unknown file is refused too.
    fs::copy(&so, plugins.join("libextra.so")).unwrap();
    let (ok, out, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(!ok, "unlocked files refused:\n{out}\n{err}");
    fs::remove_file(plugins.join("libextra.so")).unwrap();

    // Locking again accepts the new build.
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins", "lock"], &[]);
    assert!(ok, "relock:\n{err}");
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(ok, "relocked plugin loads:\n{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn explicit_lock_file_and_unknown_plugins() {
    let (dir, plugins) = setup("explicit");
    let lock = dir.join("my.lock");
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins", "lock", "--lock", lock.to_str().unwrap()], &[]);
    assert!(ok && lock.is_file() && !dir.join("ferrite-plugins.lock").exists(), "{err}");
    fs::copy(plugins.join("libferrite_ops_ref.so"), plugins.join("libferrite_unknown.so")).unwrap();
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins", "--lock", lock.to_str().unwrap()], &[]);
    assert!(!ok);
    let line = error_line(&err);
    assert!(line.contains("libferrite_unknown.so") && line.contains("not in the plugin lock"), "{line}");
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[("FERRITE_PLUGIN_LOCK", lock.to_str().unwrap())]);
    assert!(!ok && err.contains("not in the plugin lock"), "FERRITE_PLUGIN_LOCK is honoured:\n{err}");
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(ok, "no lock in force without --lock here:\n{err}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn world_writable_plugin_directory_is_refused() {
    let (dir, plugins) = setup("perms");
    fs::set_permissions(&plugins, fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(!ok, "a world-writable plugin directory must be refused");
    let line = error_line(&err);
    assert!(line.contains("writable by other users") && line.contains("chmod go-w") && line.contains("plugins"), "{line}");
    let (ok, _, err) = ferrite(&dir, &plugins, &["--allow-unlocked", "plugins"], &[]);
    assert!(ok, "--allow-unlocked overrides:\n{err}");
    fs::set_permissions(&plugins, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(plugins.join("libferrite_ops_ref.so"), fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, _, err) = ferrite(&dir, &plugins, &["plugins"], &[]);
    assert!(!ok && error_line(&err).contains("libferrite_ops_ref.so is writable by other users"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}
