//! `ferrite new-plugin NAME --kind op|model|dataset|comm|parallel [--dir D] [--sdk-path P]`:
//! writes a standalone plugin crate (its own empty `[workspace]`, `ferrite-sdk` by path and
//! `abi_stable` only) with one working example of that kind, unit tests, a README and
//! `check.sh`, which loads the built `.so` in a host (`ferrite-registry list`, then
//! `ferrite conformance` for ops, `ferrite collectives` for comm backends, a one-epoch
//! `ferrite train --parallel` for strategies, `ferrite plugins` otherwise).
//!
//! Templates live in `tools/host/templates/` and are compiled in with `include_str!`.

pub mod render;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use std::path::{Path, PathBuf};

/// What the generated crate exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PluginKind {
    /// A `contrib::<name>` op with forward and backward (a scaled swish), f32/f64/f16/bf16.
    Op,
    /// A tiny MLP model factory `models.<name>` built from the sdk's nn modules.
    Model,
    /// A seeded synthetic classification dataset factory `datasets.<name>`.
    Dataset,
    /// A communication backend `comm.<name>`: ranks as threads joined in a star of channels
    /// (gather to rank 0, combine, send back), with timeouts.
    Comm,
    /// A parallel strategy `parallel.<name>`: synchronous data parallelism (every gradient
    /// averaged after backward, the optimizer of the config's `[optimizer]` table).
    Parallel,
}

impl PluginKind {
    /// Every kind, in `--help` order.
    pub const ALL: [PluginKind; 5] = [PluginKind::Op, PluginKind::Model, PluginKind::Dataset, PluginKind::Comm, PluginKind::Parallel];

    /// `op`, `model`, `dataset`, `comm` or `parallel`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Op => "op",
            PluginKind::Model => "model",
            PluginKind::Dataset => "dataset",
            PluginKind::Comm => "comm",
            PluginKind::Parallel => "parallel",
        }
    }

    /// The kind's source files: (path in the crate, template).
    fn source_templates(self) -> Vec<(&'static str, &'static str)> {
        match self {
            PluginKind::Op => vec![("src/lib.rs", include_str!("../../templates/op/src/lib.rs.tmpl"))],
            PluginKind::Model => vec![("src/lib.rs", include_str!("../../templates/model/src/lib.rs.tmpl"))],
            PluginKind::Dataset => vec![("src/lib.rs", include_str!("../../templates/dataset/src/lib.rs.tmpl"))],
            PluginKind::Comm => vec![
                ("src/lib.rs", include_str!("../../templates/comm/src/lib.rs.tmpl")),
                ("src/star.rs", include_str!("../../templates/comm/src/star.rs.tmpl")),
                ("src/reduce.rs", include_str!("../../templates/comm/src/reduce.rs.tmpl")),
                ("src/tests.rs", include_str!("../../templates/comm/src/tests.rs.tmpl")),
            ],
            PluginKind::Parallel => vec![
                ("src/lib.rs", include_str!("../../templates/parallel/src/lib.rs.tmpl")),
                ("src/config.rs", include_str!("../../templates/parallel/src/config.rs.tmpl")),
            ],
        }
    }

    /// What `check.sh` runs after `ferrite-registry list` (`$FERRITE` is the host, `$SO` the
    /// built plugin), and the README's words for it.
    fn host_check(self, ident: &str) -> (String, String) {
        match self {
            PluginKind::Op => ("\"$FERRITE\" conformance --plugin \"$SO\" --cases \"${CASES:-32}\"".into(), "ferrite conformance".into()),
            PluginKind::Comm => (
                format!("\"$FERRITE\" collectives --comm comm.{ident} --world-size 3 --sizes 1K,64K --iters 2 --timeout-ms 10000 --plugin-path \"$SO\""),
                "ferrite collectives (every collective checked on 3 ranks)".into(),
            ),
            PluginKind::Parallel => (
                format!("\"$FERRITE\" train --plugin-path \"$SO\" --parallel {ident} --world-size 2 --epochs 1 --sizes 8 --run-dir \"${{RUN_DIR:-$(mktemp -d)}}\""),
                "a one-epoch ferrite train --parallel on 2 ranks".into(),
            ),
            PluginKind::Model | PluginKind::Dataset => ("\"$FERRITE\" plugins --plugin-path \"$SO\"".into(), "ferrite plugins".into()),
        }
    }

    /// How to use the built plugin with the host (a README paragraph).
    fn usage(self, ident: &str) -> String {
        let so = format!("target/release/lib{ident}.so");
        match self {
            PluginKind::Op => format!("Call it from a model or a Rust program as `contrib::{ident}` once the host has loaded `{so}`."),
            PluginKind::Model => format!("Train it: `ferrite train --plugin-path {so} --model models.{ident}`."),
            PluginKind::Dataset => format!("Train on it: `ferrite train --plugin-path {so} --dataset datasets.{ident}`."),
            PluginKind::Comm => format!(
                "Check every collective: `ferrite collectives --comm comm.{ident} --world-size 4 --plugin-path {so}`.\n\
                 Train with it (ranks as threads of one process):\n\n\
                 ```sh\nferrite train --plugin-path {so} --parallel ddp --comm {ident} --world-size 2\n```\n\n\
                 or `[parallel]` `comm = \"{ident}\"`, `world_size = 2`, `strategy = \"ddp\"` in the training config.\n\
                 The host passes `world_size` and `timeout_ms` (`--timeout-ms`) to the backend."
            ),
            PluginKind::Parallel => format!(
                "Train with it (any comm backend; `comm.local` runs the ranks as threads):\n\n\
                 ```sh\nferrite train --plugin-path {so} --parallel {ident} --world-size 2\n```\n\n\
                 or `[parallel]` `strategy = \"{ident}\"` (also `\"parallel.{ident}\"`), `world_size = 2` in the training\n\
                 config. The host passes `bucket_cap_mb`, `find_unused_parameters` and the `[optimizer]`\n\
                 table of the training config (`--optimizer`, `--lr`, ...)."
            ),
        }
    }

    /// The name users type to reach the example (op, model or dataset name).
    pub fn export_name(self, ident: &str) -> String {
        match self {
            PluginKind::Op => format!("contrib::{ident}"),
            PluginKind::Model => format!("models.{ident}"),
            PluginKind::Dataset => format!("datasets.{ident}"),
            PluginKind::Comm => format!("comm.{ident}"),
            PluginKind::Parallel => format!("parallel.{ident}"),
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct NewPlugin {
    /// Crate and plugin name (`my-op`, `my_model`).
    pub name: String,
    /// Which example to write.
    pub kind: PluginKind,
    /// The crate's directory (created; must not exist or be empty).
    pub dir: PathBuf,
    /// Path of `ferrite-sdk` written into `Cargo.toml` (absolute).
    pub sdk_path: PathBuf,
}

/// Names no crate may take (they shadow the standard crates or are keywords).
const RESERVED: &[&str] = &["std", "core", "alloc", "test", "proc_macro", "self", "super", "crate", "build"];

/// Checks `name` is a crate-name-safe identifier: lowercase ASCII letters, digits, `-` and `_`,
/// starting with a letter, not ending with a separator, at most 64 characters, not reserved.
///
/// # Errors
/// One line saying what is wrong.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let first = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let last = name.chars().last().is_some_and(|c| c != '-' && c != '_');
    if name.is_empty() || name.len() > 64 || !ok_chars || !first || !last {
        bail!("invalid plugin name `{name}`: use 1-64 lowercase letters, digits, `-` or `_`, starting with a letter and not ending with `-` or `_`");
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        bail!("invalid plugin name `{name}`: reserved");
    }
    Ok(())
}

/// The sdk of this checkout (`<workspace>/sdk`), as an absolute path.
///
/// # Errors
/// When that directory is gone (the binary was moved away from its checkout): pass `--sdk-path`.
pub fn default_sdk_path() -> Result<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    p.canonicalize().with_context(|| format!("the ferrite-sdk of this build ({}) is gone; pass --sdk-path", p.display()))
}

/// The files of the crate: (relative path, contents).
///
/// # Errors
/// A non-UTF-8 sdk path, or a template with an unknown placeholder (a bug).
pub fn render_files(p: &NewPlugin) -> Result<Vec<(&'static str, String)>> {
    let ident = p.name.replace('-', "_");
    let upper = ident.to_ascii_uppercase();
    let sdk = p.sdk_path.to_str().context("the sdk path is not UTF-8")?.replace('\\', "\\\\").replace('"', "\\\"");
    let export = format!("`{}`", p.kind.export_name(&ident));
    let (check_cmd, check_words) = p.kind.host_check(&ident);
    let check_extra = format!(" and {check_words}");
    let usage = p.kind.usage(&ident);
    let vars = [
        ("name", p.name.as_str()),
        ("ident", ident.as_str()),
        ("IDENT", upper.as_str()),
        ("kind", p.kind.as_str()),
        ("sdk_path", sdk.as_str()),
        ("export", export.as_str()),
        ("check_extra", check_extra.as_str()),
        ("check_cmd", check_cmd.as_str()),
        ("usage", usage.as_str()),
    ];
    let mut files = vec![
        ("Cargo.toml", include_str!("../../templates/common/Cargo.toml.tmpl")),
        (".gitignore", include_str!("../../templates/common/gitignore.tmpl")),
        ("README.md", include_str!("../../templates/common/README.md.tmpl")),
        ("check.sh", include_str!("../../templates/common/check.sh.tmpl")),
    ];
    files.extend(p.kind.source_templates());
    files.into_iter().map(|(path, t)| Ok((path, render::render(t, &vars).map_err(anyhow::Error::msg)?))).collect()
}

/// Writes the crate; returns the files written.
///
/// # Errors
/// An invalid name, an existing non-empty directory, any I/O error.
pub fn generate(p: &NewPlugin) -> Result<Vec<PathBuf>> {
    validate_name(&p.name)?;
    if p.dir.exists() {
        let non_empty = std::fs::read_dir(&p.dir).with_context(|| format!("reading {}", p.dir.display()))?.next().is_some();
        if non_empty {
            bail!("{} exists and is not empty; refusing to overwrite it", p.dir.display());
        }
    }
    let mut written = Vec::new();
    for (rel, text) in render_files(p)? {
        let path = p.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in ["a", "my-op", "my_op2", "swish"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "My", "1op", "op-", "a b", "a/b", "std", "self", "op!", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_kind_renders_and_refuses_to_overwrite() {
        let root = std::env::temp_dir().join(format!("ferrite-new-plugin-unit-{}", std::process::id()));
        for kind in PluginKind::ALL {
            let p = NewPlugin { name: "my-thing".into(), kind, dir: root.join(kind.as_str()), sdk_path: "/x/sdk".into() };
            let files = render_files(&p).unwrap();
            let get = |n: &str| &files.iter().find(|(f, _)| *f == n).unwrap().1;
            assert!(get("Cargo.toml").contains("ferrite-sdk = { path = \"/x/sdk\" }") && get("Cargo.toml").contains("[workspace]"));
            assert!(!get("Cargo.toml").contains("ferrite-core"));
            assert!(get("src/lib.rs").contains(&kind.export_name("my_thing")));
            assert!(get("check.sh").contains("libmy_thing.so"));
            assert!(!get("README.md").contains("{{") && get("README.md").contains(&kind.export_name("my_thing")));
            generate(&p).unwrap();
            assert!(generate(&p).unwrap_err().to_string().contains("refusing"));
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn comm_and_parallel_say_how_to_run_them() {
        let files = |kind| render_files(&NewPlugin { name: "x-y".into(), kind, dir: "/tmp/unused".into(), sdk_path: "/s".into() }).unwrap();
        let comm = files(PluginKind::Comm);
        let names: Vec<&str> = comm.iter().map(|(f, _)| *f).collect();
        assert!(["src/star.rs", "src/reduce.rs", "src/tests.rs"].iter().all(|f| names.contains(f)), "{names:?}");
        let get = |fs: &[(&str, String)], n: &str| fs.iter().find(|(f, _)| *f == n).unwrap().1.clone();
        assert!(get(&comm, "check.sh").contains("collectives --comm comm.x_y"));
        assert!(get(&comm, "README.md").contains("--comm x_y"));
        let par = files(PluginKind::Parallel);
        assert!(get(&par, "check.sh").contains("train --plugin-path \"$SO\" --parallel x_y"));
        assert!(get(&par, "README.md").contains("strategy = \"x_y\""));
        assert!(get(&par, "src/lib.rs").contains("parallel.x_y") && get(&par, "src/config.rs").contains("OptimizerSpec"));
    }
}
