//! The embedded data file: decompression and parsing of `digits.csv.gz`.

use std::io::Read;

/// The shipped file (see `data/README.md` for source and licence: UCI, CC BY 4.0).
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Pixels per image (8×8).
pub const PIXELS: usize = 64;
/// Side of an image in pixels.
pub const SIDE: usize = 8;
/// Number of classes (digits 0..=9).
pub const NUM_CLASSES: usize = 10;
/// Largest pixel value in the file.
pub const MAX_PIXEL: u8 = 16;

/// The raw samples: `pixels[i]` is image `i` (row-major 8×8, values 0..=16), `labels[i]` its
/// digit 0..=9.
#[derive(Clone, Debug, PartialEq)]
pub struct RawDigits {
    /// Row-major 8×8 images, values 0..=16.
    pub pixels: Vec<[u8; PIXELS]>,
    /// Labels 0..=9, one per image.
    pub labels: Vec<u8>,
}

/// Decompresses and parses the embedded file.
///
/// # Errors
/// A one-line message if the embedded file is not valid gzip/UTF-8 or not well-formed.
pub fn load_embedded() -> Result<RawDigits, String> {
    let text = gunzip(DIGITS_CSV_GZ)?;
    parse_csv(&text)
}

/// Decompresses gzip bytes into UTF-8 text.
///
/// # Errors
/// `"digits.csv.gz: ..."` if the bytes are not gzip or the content is not UTF-8.
pub fn gunzip(bytes: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| format!("digits.csv.gz: cannot decompress: {e}"))?;
    Ok(text)
}

/// Parses the CSV text: one sample per non-empty line, 64 pixels 0..=16 then a label 0..=9.
///
/// # Errors
/// `"digits.csv line N: ..."` for a wrong field count, a non-integer or an out-of-range value;
/// also an error if there are no samples at all.
pub fn parse_csv(text: &str) -> Result<RawDigits, String> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let n = lineno + 1;
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(format!("digits.csv line {n}: expected {} fields, got {}", PIXELS + 1, fields.len()));
        }
        let mut img = [0u8; PIXELS];
        for (k, f) in fields.iter().enumerate() {
            let v: u8 = f
                .trim()
                .parse()
                .map_err(|_| format!("digits.csv line {n}, field {}: {:?} is not a small integer", k + 1, f))?;
            if k < PIXELS {
                if v > MAX_PIXEL {
                    return Err(format!("digits.csv line {n}, field {}: pixel {v} outside 0..={MAX_PIXEL}", k + 1));
                }
                img[k] = v;
            } else {
                if v as usize >= NUM_CLASSES {
                    return Err(format!("digits.csv line {n}: label {v} outside 0..={}", NUM_CLASSES - 1));
                }
                labels.push(v);
            }
        }
        pixels.push(img);
    }
    if pixels.is_empty() {
        return Err("digits.csv: no samples".to_string());
    }
    Ok(RawDigits { pixels, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_has_1797_samples_of_every_class() {
        let raw = load_embedded().unwrap();
        assert_eq!(raw.pixels.len(), 1797);
        assert_eq!(raw.labels.len(), 1797);
        let mut counts = [0usize; NUM_CLASSES];
        for &l in &raw.labels {
            counts[l as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
        // First sample of the file is a 0 (sklearn's digits.images[0]).
        assert_eq!(raw.labels[0], 0);
        assert_eq!(&raw.pixels[0][..8], &[0, 0, 5, 13, 9, 1, 0, 0]);
    }

    #[test]
    fn malformed_lines_give_line_numbers() {
        let good = format!("{}5", "1,".repeat(64));
        assert_eq!(parse_csv(&good).unwrap().labels, vec![5]);
        let short = "1,2,3";
        assert!(parse_csv(short).unwrap_err().contains("line 1: expected 65 fields"));
        let bad_label = format!("{good}\n{}10", "0,".repeat(64));
        assert!(parse_csv(&bad_label).unwrap_err().contains("line 2: label 10"));
        let bad_pixel = format!("17,{}0", "0,".repeat(63));
        assert!(parse_csv(&bad_pixel).unwrap_err().contains("pixel 17"));
        let not_int = format!("x,{}0", "0,".repeat(63));
        assert!(parse_csv(&not_int).unwrap_err().contains("field 1"));
        assert!(parse_csv("\n\n").unwrap_err().contains("no samples"));
        assert!(gunzip(b"not gzip").unwrap_err().starts_with("digits.csv.gz"));
    }
}
