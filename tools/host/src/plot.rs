//! PNG plots of a [`MetricsLog`]: two panels side by side, loss (left) and accuracy in percent
//! (right) against the epoch, one colour per input size; test curves are solid, train curves
//! dashed. The font is embedded (DejaVu Sans, `assets/`), so plotting works on a machine with
//! no fonts installed.

use crate::atomic::{ensure_parent, temp_sibling};
use crate::metrics::{EpochRecord, MetricsLog};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::OnceLock;

/// Font family name under which the embedded font is registered.
pub const FONT_FAMILY: &str = "sans-serif";
/// Image size in pixels (width, height).
pub const IMAGE_SIZE: (u32, u32) = (1200, 500);

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
static FONT_TTF: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Errors while plotting; each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The log has no records.
    #[error("no metrics to plot")]
    NoData,
    /// The embedded font could not be registered.
    #[error("cannot register the embedded font: {0}")]
    Font(String),
    /// Drawing or encoding the PNG failed.
    #[error("plot {path}: {message}")]
    Draw {
        /// Target file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Creating the directory or renaming the finished file failed.
    #[error("plot {path}: {error}")]
    Io {
        /// Target file.
        path: String,
        /// The I/O error (shown in the message, so not also reported as a `source`).
        error: std::io::Error,
    },
}

/// Registers the embedded font as [`FONT_FAMILY`] (once per process; later calls are free).
///
/// # Errors
/// [`PlotError::Font`] if the embedded TTF cannot be parsed.
pub fn register_embedded_font() -> Result<(), PlotError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT_FAMILY, FontStyle::Normal, FONT_TTF)
            .map_err(|_| "DejaVuSans.ttf is not a valid font".to_string())
    })
    .clone()
    .map_err(PlotError::Font)
}

/// Draws `log` into a PNG at `path` ([`IMAGE_SIZE`]), atomically: the image is rendered into a
/// temporary sibling and renamed over `path`. Parent directories are created. Non-finite values
/// (a diverged loss) are left out of the curves.
///
/// # Errors
/// [`PlotError::NoData`] for an empty log, otherwise font, drawing or I/O errors.
pub fn plot_metrics(log: &MetricsLog, path: &Path, title: &str) -> Result<(), PlotError> {
    if log.is_empty() {
        return Err(PlotError::NoData);
    }
    register_embedded_font()?;
    let shown = path.display().to_string();
    let io = |error| PlotError::Io { path: shown.clone(), error };
    ensure_parent(path).map_err(io)?;
    let tmp = temp_sibling(path);
    let result = draw(log, &tmp, title)
        .map_err(|message| PlotError::Draw { path: shown.clone(), message })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Which quantity a panel shows.
#[derive(Clone, Copy)]
enum Panel {
    Loss,
    Accuracy,
}

impl Panel {
    fn values(self, r: &EpochRecord) -> (f64, f64) {
        match self {
            Panel::Loss => (r.train_loss, r.test_loss),
            Panel::Accuracy => (100.0 * r.train_accuracy, 100.0 * r.test_accuracy),
        }
    }
    fn label(self) -> &'static str {
        match self {
            Panel::Loss => "loss",
            Panel::Accuracy => "accuracy (%)",
        }
    }
}

/// Renders the whole image to `file` (a `.png` path).
fn draw(log: &MetricsLog, file: &Path, title: &str) -> Result<(), String> {
    let root = BitMapBackend::new(file, IMAGE_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, (FONT_FAMILY, 24)).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(IMAGE_SIZE.0 / 2);
    draw_panel(&left, log, Panel::Loss)?;
    draw_panel(&right, log, Panel::Accuracy)?;
    root.present().map_err(|e| e.to_string())
}

/// One panel: both curves of every input size, with axes and a legend.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    log: &MetricsLog,
    panel: Panel,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let max_epoch = log.records().iter().map(|r| r.epoch).max().unwrap_or(1).max(2);
    let y_max = match panel {
        Panel::Accuracy => 100.0,
        Panel::Loss => {
            let m = log
                .records()
                .iter()
                .flat_map(|r| [r.train_loss, r.test_loss])
                .filter(|v| v.is_finite())
                .fold(0.0_f64, f64::max);
            if m > 0.0 {
                m * 1.05
            } else {
                1.0
            }
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(panel.label(), (FONT_FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(1u32..max_epoch, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(panel.label())
        .x_labels(max_epoch.min(10) as usize)
        .y_label_formatter(&|v| match panel {
            Panel::Accuracy => format!("{v:.0}"),
            Panel::Loss => format!("{v:.2}"),
        })
        .label_style((FONT_FAMILY, 14))
        .draw()
        .map_err(err)?;
    for (k, size) in log.sizes().into_iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let points = |test: bool| -> Vec<(u32, f64)> {
            log.for_size(size)
                .map(|r| {
                    let (train, t) = panel.values(r);
                    (r.epoch, if test { t } else { train })
                })
                .filter(|(_, v)| v.is_finite())
                .collect()
        };
        chart
            .draw_series(LineSeries::new(points(true), color.stroke_width(2)))
            .map_err(err)?
            .label(format!("{size}x{size} test"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
        chart
            .draw_series(DashedLineSeries::new(points(false), 6, 4, color.stroke_width(1)))
            .map_err(err)?
            .label(format!("{size}x{size} train"))
            .legend(move |(x, y)| {
                plotters::element::DashedPathElement::new(vec![(x, y), (x + 24, y)], 5, 3, color.stroke_width(1))
            });
    }
    let position = match panel {
        Panel::Loss => SeriesLabelPosition::UpperRight,
        Panel::Accuracy => SeriesLabelPosition::LowerRight,
    };
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT_FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> MetricsLog {
        let mut log = MetricsLog::new();
        for size in [8, 16] {
            for epoch in 1..=5 {
                let e = epoch as f64;
                log.push(EpochRecord {
                    epoch,
                    size,
                    train_loss: 2.3 / e,
                    train_accuracy: 1.0 - 0.9 / e,
                    test_loss: 2.4 / e + 0.05,
                    test_accuracy: 1.0 - 0.95 / e,
                    seconds: 0.1,
                });
            }
        }
        log
    }

    #[test]
    fn writes_a_png_with_text_and_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("ferrite-host-plot-{}", std::process::id()));
        let path = dir.join("curves.png");
        plot_metrics(&log(), &path, "models.spp_net on datasets.digits").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 5_000, "suspiciously small PNG: {} bytes", bytes.len());
        // Overwrite in place (atomic replace) works too, and leaves only the one file.
        plot_metrics(&log(), &path, "again").unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        if let Some(keep) = std::env::var_os("FERRITE_KEEP_PLOT") {
            std::fs::copy(&path, keep).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn single_epoch_and_diverged_values_still_plot() {
        let dir = std::env::temp_dir().join(format!("ferrite-host-plot1-{}", std::process::id()));
        let mut l = MetricsLog::new();
        l.push(EpochRecord {
            epoch: 1,
            size: 8,
            train_loss: f64::NAN,
            train_accuracy: 0.1,
            test_loss: f64::INFINITY,
            test_accuracy: 0.1,
            seconds: 1.0,
        });
        plot_metrics(&l, &dir.join("p.png"), "diverged").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The embedded font really draws: the title band of the image is not blank.
    #[test]
    fn title_text_is_rendered() {
        register_embedded_font().unwrap();
        let (w, h) = (400u32, 60u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.draw(&Text::new("Loss 0123", (10, 10), (FONT_FAMILY, 30))).unwrap();
            root.present().unwrap();
        }
        let dark = buf.chunks(3).filter(|p| p.iter().all(|&c| c < 128)).count();
        assert!(dark > 100, "only {dark} dark pixels: the font did not render");
    }

    #[test]
    fn empty_log_is_an_error() {
        assert!(matches!(plot_metrics(&MetricsLog::new(), Path::new("unused.png"), "t"), Err(PlotError::NoData)));
    }

    #[test]
    fn embedded_font_registers() {
        register_embedded_font().unwrap();
        register_embedded_font().unwrap();
    }
}
