//! `ferrite conformance --plugin PATH [--op NAME] [--cases N]`: loads ops-ref and the plugin,
//! runs the conformance suite on every kernel of the plugin, prints the pass/fail table (with
//! shrunk counterexamples) and records the results in the conformance database.

use crate::cli::ConformanceArgs;
use anyhow::{Context, Result};
use ferrite_conformance::{record, report, runner};
use ferrite_core::{discovery, Runtime};

/// Runs the suite as `args` say; returns the number of failed kernels.
///
/// # Errors
/// A plugin that cannot be loaded, an unknown op, an unwritable database.
pub fn run(args: &ConformanceArgs) -> Result<usize> {
    let rt = Runtime::global();
    let reference = match &args.reference {
        Some(p) => p.clone(),
        None => {
            crate::plugins::build_default_plugins_if_in_workspace()?;
            discovery::find_plugin("ops-ref")?
        }
    };
    let ref_name = rt.load_plugin(&reference).with_context(|| format!("loading the reference {}", reference.display()))?.plugin.name.clone();
    let loaded = rt.load_plugin(&args.plugin).with_context(|| format!("loading {}", args.plugin.display()))?;
    let name = loaded.plugin.name.clone();
    if name == ref_name && loaded.plugin.sha256 != rt.plugins().iter().find(|p| p.meta.name == ref_name).map_or(String::new(), |p| p.meta.sha256.clone()) {
        anyhow::bail!("{} is named `{name}` like the reference; it replaced it, so there is nothing to compare against", args.plugin.display());
    }
    if let Some(op) = &args.op {
        anyhow::ensure!(rt.registry().resolve(op).is_some(), "no loaded plugin exports `{op}`");
    }
    let cfg = runner::RunConfig { reference: ref_name, op: args.op.clone(), cases: args.cases, ..runner::RunConfig::new(&name) };
    let rep = runner::run(&cfg).map_err(anyhow::Error::msg)?;
    print!("{}", report::table(&rep));
    if !args.no_record {
        let path = record::default_path();
        record::record_report(&path, &rep).map_err(anyhow::Error::msg).context("recording the results")?;
        println!("recorded in {}", path.display());
    }
    // A run that checked nothing must not look like a pass. Ops the reference does not implement
    // (a new `contrib::` op, say) are checked for self-consistency (rows marked `(self)`); only
    // kernels neither check applies to stay untested.
    let checked = rep.rows.iter().filter(|r| r.status.is_pass() || r.status.is_fail()).count();
    anyhow::ensure!(
        checked > 0,
        "nothing was checked: the reference implements none of {}'s kernels and no self-consistency check applies \
         (test their math in the plugin's own unit tests; see docs/plugin-guide.md)",
        args.plugin.display()
    );
    Ok(rep.rows.iter().filter(|r| r.status.is_fail()).count())
}
