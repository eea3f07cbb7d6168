//! Per-epoch training records, kept in memory and written as CSV (atomically).
//!
//! CSV columns (header included): `epoch,size,train_loss,train_accuracy,test_loss,
//! test_accuracy,seconds`. Losses are mean cross-entropy per sample (nats), accuracies are
//! fractions in `[0, 1]`, `seconds` is the wall-clock time of the epoch (training plus
//! evaluation). Floats are written in Rust's shortest round-trip form, so reading gives back the
//! exact values.

use crate::atomic::write_atomic;
use std::path::Path;

/// The CSV header line (without newline).
pub const CSV_HEADER: &str = "epoch,size,train_loss,train_accuracy,test_loss,test_accuracy,seconds";

/// One epoch of one training run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRecord {
    /// Epoch number, starting at 1.
    pub epoch: u32,
    /// Input size (pixels per side) of the run.
    pub size: u32,
    /// Mean training loss over the epoch (nats per sample).
    pub train_loss: f64,
    /// Training accuracy over the epoch, in `[0, 1]`.
    pub train_accuracy: f64,
    /// Mean test loss after the epoch (nats per sample).
    pub test_loss: f64,
    /// Test accuracy after the epoch, in `[0, 1]`.
    pub test_accuracy: f64,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

/// Errors reading or writing metrics; each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// File system error.
    #[error("metrics file {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error (shown in the message, so not also reported as a `source`).
        error: std::io::Error,
    },
    /// Malformed CSV.
    #[error("metrics CSV line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The records of a training session (all sizes), in the order they were pushed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsLog {
    records: Vec<EpochRecord>,
}

impl MetricsLog {
    /// An empty log.
    pub fn new() -> MetricsLog {
        MetricsLog::default()
    }

    /// Appends a record.
    pub fn push(&mut self, record: EpochRecord) {
        self.records.push(record);
    }

    /// Drops the records of epochs after `epoch` (a resumed run repeats them).
    pub fn retain_up_to_epoch(&mut self, epoch: u32) {
        self.records.retain(|r| r.epoch <= epoch);
    }

    /// All records, in push order.
    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    /// True if there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The distinct input sizes, in order of first appearance.
    pub fn sizes(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for r in &self.records {
            if !out.contains(&r.size) {
                out.push(r.size);
            }
        }
        out
    }

    /// The records of one input size, in push order.
    pub fn for_size(&self, size: u32) -> impl Iterator<Item = &EpochRecord> {
        self.records.iter().filter(move |r| r.size == size)
    }

    /// The CSV text: header plus one line per record, `\n`-terminated.
    pub fn to_csv(&self) -> String {
        let mut s = String::with_capacity(64 * (self.records.len() + 1));
        s.push_str(CSV_HEADER);
        s.push('\n');
        for r in &self.records {
            s.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                r.epoch, r.size, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds
            ));
        }
        s
    }

    /// Parses CSV text written by [`MetricsLog::to_csv`] (blank lines ignored).
    ///
    /// # Errors
    /// [`MetricsError::Parse`] for a wrong header, field count or number.
    pub fn from_csv(text: &str) -> Result<MetricsLog, MetricsError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        match lines.next() {
            Some((_, h)) if h.trim() == CSV_HEADER => {}
            Some((i, h)) => {
                return Err(MetricsError::Parse {
                    line: i + 1,
                    message: format!("expected header {CSV_HEADER:?}, got {h:?}"),
                })
            }
            None => return Err(MetricsError::Parse { line: 1, message: "empty file (no header)".into() }),
        }
        let mut log = MetricsLog::new();
        for (i, line) in lines {
            let err = |message: String| MetricsError::Parse { line: i + 1, message };
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != 7 {
                return Err(err(format!("expected 7 fields, got {}", f.len())));
            }
            let int = |k: usize| {
                f[k].parse::<u32>().map_err(|_| err(format!("field {}: {:?} is not an unsigned integer", k + 1, f[k])))
            };
            let num =
                |k: usize| f[k].parse::<f64>().map_err(|_| err(format!("field {}: {:?} is not a number", k + 1, f[k])));
            log.push(EpochRecord {
                epoch: int(0)?,
                size: int(1)?,
                train_loss: num(2)?,
                train_accuracy: num(3)?,
                test_loss: num(4)?,
                test_accuracy: num(5)?,
                seconds: num(6)?,
            });
        }
        Ok(log)
    }

    /// Writes the CSV to `path` atomically (temporary sibling + rename), creating parent
    /// directories. Call after every epoch: readers always see a complete file.
    ///
    /// # Errors
    /// [`MetricsError::Io`].
    pub fn write_csv(&self, path: &Path) -> Result<(), MetricsError> {
        write_atomic(path, self.to_csv().as_bytes())
            .map_err(|error| MetricsError::Io { path: path.display().to_string(), error })
    }

    /// Reads a CSV file written by [`MetricsLog::write_csv`].
    ///
    /// # Errors
    /// [`MetricsError::Io`] or [`MetricsError::Parse`].
    pub fn read_csv(path: &Path) -> Result<MetricsLog, MetricsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| MetricsError::Io { path: path.display().to_string(), error })?;
        MetricsLog::from_csv(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: u32, size: u32) -> EpochRecord {
        EpochRecord {
            epoch,
            size,
            train_loss: 2.5 / epoch as f64,
            train_accuracy: 0.1 * epoch as f64,
            test_loss: 1.0 / 3.0,
            test_accuracy: 0.875,
            seconds: 0.012345,
        }
    }

    #[test]
    fn csv_has_header_and_round_trips_exactly() {
        let mut log = MetricsLog::new();
        for s in [8, 16] {
            for e in 1..=3 {
                log.push(rec(e, s));
            }
        }
        let csv = log.to_csv();
        assert!(csv.starts_with("epoch,size,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n"));
        assert_eq!(csv.lines().count(), 7);
        assert!(csv.contains("\n1,8,2.5,0.1,0.3333333333333333,0.875,0.012345\n"), "{csv}");
        assert_eq!(MetricsLog::from_csv(&csv).unwrap(), log);
        assert_eq!(log.sizes(), vec![8, 16]);
        assert_eq!(log.for_size(16).count(), 3);
    }

    #[test]
    fn non_finite_values_round_trip() {
        let mut log = MetricsLog::new();
        log.push(EpochRecord { train_loss: f64::NAN, test_loss: f64::INFINITY, ..rec(1, 8) });
        let back = MetricsLog::from_csv(&log.to_csv()).unwrap();
        assert!(back.records()[0].train_loss.is_nan());
        assert_eq!(back.records()[0].test_loss, f64::INFINITY);
    }

    #[test]
    fn malformed_csv_errors_name_the_line() {
        assert!(MetricsLog::from_csv("").unwrap_err().to_string().contains("line 1"));
        assert!(MetricsLog::from_csv("a,b\n").unwrap_err().to_string().contains("expected header"));
        let short = format!("{CSV_HEADER}\n1,8,0.5\n");
        assert!(MetricsLog::from_csv(&short).unwrap_err().to_string().contains("line 2: expected 7 fields"));
        let bad = format!("{CSV_HEADER}\n1,8,0.5,0.5,0.5,x,1\n");
        assert!(MetricsLog::from_csv(&bad).unwrap_err().to_string().contains("field 6"));
    }

    #[test]
    fn write_and_read_file() {
        let dir = std::env::temp_dir().join(format!("ferrite-host-metrics-{}", std::process::id()));
        let path = dir.join("run").join("metrics.csv");
        let mut log = MetricsLog::new();
        log.push(rec(1, 8));
        log.write_csv(&path).unwrap();
        log.push(rec(2, 8));
        log.write_csv(&path).unwrap();
        assert_eq!(MetricsLog::read_csv(&path).unwrap(), log);
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temp files left");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(MetricsLog::read_csv(&path).unwrap_err().to_string().starts_with("metrics file "));
    }
}
