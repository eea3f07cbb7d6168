//! The benchmark table: one row per case, rendered as markdown.

/// One measured case.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// Benchmark family (`sgemm`, `SPP-net step`, ...).
    pub bench: String,
    /// The case within it (`1024³ via dispatch (ops-cpu)`).
    pub case: String,
    /// Ferrite's figure, formatted.
    pub ferrite: String,
    /// The peer's figure, formatted (`not measured` when absent).
    pub peer: String,
    /// Ferrite's time divided by the peer's (below 1 = Ferrite faster).
    pub ratio: Option<f64>,
    /// The goal of issue 3 §4 this row is judged against (empty when none).
    pub goal: String,
    /// Whether the goal is met, or by how much it is missed.
    pub verdict: String,
    /// Anything a reader must know about the number.
    pub note: String,
}

impl Row {
    /// A row with the family and case filled.
    pub fn new(bench: &str, case: impl Into<String>) -> Row {
        Row { bench: bench.into(), case: case.into(), peer: "not measured".into(), ..Row::default() }
    }
}

/// The time ratio as text (`0.84×`), or `–`.
pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}×"))
}

/// "met" or "missed: needs N× faster" for a time-ratio goal `ratio ≤ goal`.
pub fn verdict_ratio(ratio: Option<f64>, goal: f64) -> String {
    match ratio {
        None => "not judged (no peer)".into(),
        Some(r) if r <= goal => format!("met ({r:.2}× ≤ {goal}×)"),
        Some(r) => format!("missed by {:.2}× ({r:.2}× vs ≤ {goal}×)", r / goal),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The rows as a markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| benchmark | case | Ferrite | peer | Ferrite/peer (time) | goal | verdict | note |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&r.bench),
            cell(&r.case),
            cell(&r.ferrite),
            cell(&r.peer),
            fmt_ratio(r.ratio),
            cell(&r.goal),
            cell(&r.verdict),
            cell(&r.note)
        ));
    }
    out
}
