//! The PyTorch side: runs `tools/host/bench/pytorch_bench.py` with a given interpreter and
//! reads the JSON it prints.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The committed script that measures PyTorch and OpenBLAS.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/pytorch_bench.py")
}

/// PyTorch's numbers for the sections asked for.
#[derive(Clone, Debug)]
pub struct Peer(pub Value);

impl Peer {
    /// A number at a `/`-separated JSON path (`sgemm/1024/numpy_s`).
    pub fn num(&self, path: &str) -> Option<f64> {
        let mut v = &self.0;
        for k in path.split('/') {
            v = v.get(k)?;
        }
        v.as_f64()
    }

    /// A string at a path (`versions/torch`).
    pub fn str(&self, path: &str) -> Option<String> {
        let mut v = &self.0;
        for k in path.split('/') {
            v = v.get(k)?;
        }
        v.as_str().map(str::to_string)
    }
}

/// Runs the script: `python pytorch_bench.py --threads N --sections ... [--quick]`.
pub fn run(python: &Path, threads: usize, sections: &[String], quick: bool) -> Result<Peer> {
    let script = script_path();
    let mut cmd = std::process::Command::new(python);
    cmd.arg(&script).args(["--threads", &threads.to_string(), "--sections", &sections.join(",")]);
    if quick {
        cmd.arg("--quick");
    }
    eprintln!("bench: measuring PyTorch with {} ...", python.display());
    let out = cmd.stderr(std::process::Stdio::inherit()).output().with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(out.status.success(), "{} {} failed ({})", python.display(), script.display(), out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).context("the PyTorch script printed no JSON")?;
    Ok(Peer(serde_json::from_str(line).context("parsing the PyTorch script's JSON")?))
}
