//! `ferrite new-plugin NAME --kind op|model|dataset [--dir D] [--sdk-path P]`: writes a
//! standalone plugin crate (its own empty `[workspace]`, `ferrite-sdk` by path and `abi_stable`
//! only) with one working example of that kind, unit tests, a README and `check.sh`, which
//! loads the built `.so` in a host (`ferrite-registry list`, and `ferrite conformance` for ops).
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
}

impl PluginKind {
    /// `op`, `model` or `dataset`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Op => "op",
            PluginKind::Model => "model",
            PluginKind::Dataset => "dataset",
        }
    }

    fn lib_template(self) -> &'static str {
        match self {
            PluginKind::Op => include_str!("../../templates/op/src/lib.rs.tmpl"),
            PluginKind::Model => include_str!("../../templates/model/src/lib.rs.tmpl"),
            PluginKind::Dataset => include_str!("../../templates/dataset/src/lib.rs.tmpl"),
        }
    }

    /// The name users type to reach the example (op, model or dataset name).
    pub fn export_name(self, ident: &str) -> String {
        match self {
            PluginKind::Op => format!("contrib::{ident}"),
            PluginKind::Model => format!("models.{ident}"),
            PluginKind::Dataset => format!("datasets.{ident}"),
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
    let check_extra = if p.kind == PluginKind::Op { " and ferrite conformance" } else { " and ferrite plugins" };
    let vars = [
        ("name", p.name.as_str()),
        ("ident", ident.as_str()),
        ("IDENT", upper.as_str()),
        ("kind", p.kind.as_str()),
        ("sdk_path", sdk.as_str()),
        ("export", export.as_str()),
        ("check_extra", check_extra),
    ];
    let files = [
        ("Cargo.toml", include_str!("../../templates/common/Cargo.toml.tmpl")),
        (".gitignore", include_str!("../../templates/common/gitignore.tmpl")),
        ("README.md", include_str!("../../templates/common/README.md.tmpl")),
        ("check.sh", include_str!("../../templates/common/check.sh.tmpl")),
        ("src/lib.rs", p.kind.lib_template()),
    ];
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
        for kind in [PluginKind::Op, PluginKind::Model, PluginKind::Dataset] {
            let p = NewPlugin { name: "my-thing".into(), kind, dir: root.join(kind.as_str()), sdk_path: "/x/sdk".into() };
            let files = render_files(&p).unwrap();
            let get = |n: &str| &files.iter().find(|(f, _)| *f == n).unwrap().1;
            assert!(get("Cargo.toml").contains("ferrite-sdk = { path = \"/x/sdk\" }") && get("Cargo.toml").contains("[workspace]"));
            assert!(!get("Cargo.toml").contains("ferrite-core"));
            assert!(get("src/lib.rs").contains(&kind.export_name("my_thing")));
            assert!(get("check.sh").contains("libmy_thing.so"));
            generate(&p).unwrap();
            assert!(generate(&p).unwrap_err().to_string().contains("refusing"));
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
