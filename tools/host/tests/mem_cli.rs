//! `ferrite mem` and `ferrite collectives` from the command line: the documented 7B figure,
//! the activation term, and one-line errors for bad arguments.

use std::process::Command;

fn ferrite(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrite")).args(args).output().expect("run ferrite");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn mem_prints_the_textbook_figure_and_transformer_activations() {
    let (ok, out) = ferrite(&["mem", "--params", "7e9"]);
    assert!(ok && out.contains("bf16 mixed precision, adamw") && out.contains("total          112.0 GB"), "{out}");
    let (ok, out) = ferrite(&["mem", "--params", "7e9", "--precision", "f32", "--optimizer", "sgd"]);
    assert!(ok && out.contains("fp32") && !out.contains("master weights"), "{out}");
    // The comma form shown by --help.
    let (ok, out) = ferrite(&["mem", "--params", "7e9", "--transformer", "32,4096,32,2048,1"]);
    assert!(ok && out.contains("activations"), "{out}");
}

#[test]
fn bad_mem_and_collectives_arguments_are_one_line_errors() {
    for (args, want) in [
        (vec!["mem", "--params", "7e9", "--transformer", "32,4096"], "5 numbers"),
        (vec!["mem", "--params", "1e5", "--measure", "--precision", "bf16"], "fp32 only"),
        (vec!["collectives"], "--world-size N is needed"),
    ] {
        let (ok, out) = ferrite(&args);
        assert!(!ok && out.contains(want), "{args:?}: {out}");
        assert!(!out.contains("panicked"), "{args:?}: {out}");
    }
}
