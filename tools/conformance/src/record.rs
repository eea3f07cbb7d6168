//! The conformance database: one record per (plugin sha256, op, device, dtype) with status,
//! sample count and UTC date, in a JSON file written atomically (temporary sibling + rename).
//!
//! Location: `$FERRITE_CONFORMANCE_DB`, else `$XDG_CACHE_HOME/ferrite/conformance.json`, else
//! `~/.cache/ferrite/conformance.json`.

use crate::runner::{Report, Status};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One kernel's latest result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Record {
    /// SHA-256 of the plugin file.
    pub sha256: String,
    /// Plugin name.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// Canonical op name.
    pub op: String,
    /// `cpu`, `cuda`.
    pub device: String,
    /// `f32`, `bf16`, ...
    pub dtype: String,
    /// `pass` or `fail`.
    pub status: String,
    /// Cases run.
    pub cases: u32,
    /// When, UTC (`YYYY-MM-DDTHH:MM:SSZ`).
    pub date: String,
}

/// The whole file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Db {
    /// Every record, sorted by (sha256, op, device, dtype).
    pub records: Vec<Record>,
}

/// Where the database lives (see the module docs).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRITE_CONFORMANCE_DB") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("ferrite").join("conformance.json")
}

/// `YYYY-MM-DDTHH:MM:SSZ` (times before 1970 print as the epoch).
pub fn utc_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl Db {
    /// Reads the file; a missing file is an empty database.
    ///
    /// # Errors
    /// An unreadable or malformed file, with its path.
    pub fn load(path: &Path) -> Result<Db, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: not a conformance database: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Db::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes the file atomically (parent directories created).
    ///
    /// # Errors
    /// Any I/O error, with the path; the old file is then unchanged.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let name = path.file_name().map_or_else(|| "conformance.json".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })
    }

    /// Adds (or replaces) the records of every tested kernel of `report`, dated `now`.
    pub fn record(&mut self, report: &Report, now: SystemTime) {
        let date = utc_date(now);
        for row in &report.rows {
            if matches!(row.status, Status::Untested(_)) {
                continue;
            }
            let rec = Record {
                sha256: report.sha256.clone(),
                plugin: report.plugin.clone(),
                version: report.version.clone(),
                op: row.op.clone(),
                device: row.device.clone(),
                dtype: row.dtype.short().to_string(),
                status: row.status.as_str().to_string(),
                cases: row.cases,
                date: date.clone(),
            };
            self.records.retain(|r| !(r.sha256 == rec.sha256 && r.op == rec.op && r.device == rec.device && r.dtype == rec.dtype));
            self.records.push(rec);
        }
        self.records.sort_by(|a, b| (&a.sha256, &a.op, &a.device, &a.dtype).cmp(&(&b.sha256, &b.op, &b.device, &b.dtype)));
    }

    /// The record of one kernel of the plugin file with hash `sha256`.
    pub fn lookup(&self, sha256: &str, op: &str, device: &str, dtype: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.sha256 == sha256 && r.op == op && r.device == device && r.dtype == dtype)
    }
}

/// Loads the database at `path`, records `report` and saves it atomically.
///
/// # Errors
/// As [`Db::load`] and [`Db::save`].
pub fn record_report(path: &Path, report: &Report) -> Result<(), String> {
    let mut db = Db::load(path)?;
    db.record(report, SystemTime::now());
    db.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Row;
    use ferrite_sdk::DType;
    use std::time::Duration;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date(UNIX_EPOCH + Duration::from_secs(1_709_210_096)), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn records_replace_and_round_trip_atomically() {
        let dir = std::env::temp_dir().join(format!("ferrite-conformance-db-{}", std::process::id()));
        let path = dir.join("sub").join("db.json");
        let row = |status| Row { op: "ferrite::add".into(), device: "cpu".into(), dtype: DType::F32, status, cases: 7, worst: 0.0, rejected: 0, failure: None };
        let mut rep = Report { plugin: "p".into(), version: "1".into(), sha256: "abc".into(), rows: vec![row(Status::Fail), row(Status::Untested("x".into()))] };
        record_report(&path, &rep).unwrap();
        rep.rows[0].status = Status::Pass;
        record_report(&path, &rep).unwrap();
        let db = Db::load(&path).unwrap();
        assert_eq!(db.records.len(), 1);
        let r = db.lookup("abc", "ferrite::add", "cpu", "f32").unwrap();
        assert_eq!((r.status.as_str(), r.cases), ("pass", 7));
        assert!(db.lookup("abd", "ferrite::add", "cpu", "f32").is_none());
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("db.json")]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
