//! Unit tests of safetensors validation; `c17_*` are field case C17 (ollama/ollama#17148:
//! malformed safetensors headers must be errors, never panics or huge allocations).

use super::*;
use crate::error::SafetensorsError as E;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex")).collect()
}

fn kind(bytes: &[u8]) -> E {
    match validate_safetensors(bytes) {
        Err(Error::Safetensors { kind, .. }) => kind,
        other => panic!("expected a safetensors error, got {other:?}"),
    }
}

/// Builds a file from a header string and data bytes.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

const C17_VALID: &str = "36000000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d7d0000803f00000040";
const C17_TRUNCATED_DATA: &str = "36000000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d7d0000803f";
const C17_HEADER_LEN_PAST_EOF: &str = "00100000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d7d0000803f00000040";
const C17_HEADER_LEN_HUGE: &str = "ffffffffffffff7f7b2278223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c385d7d7d0000803f00000040";
const C17_INVERTED_OFFSETS: &str = "36000000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b382c305d7d7d0000803f00000040";
const C17_SINGLE_OFFSET: &str = "34000000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b305d7d7d0000803f00000040";
const C17_SHAPE_BYTES_MISMATCH: &str = "38000000000000007b2278223a7b226474797065223a22463332222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b302c385d7d7d0000803f00000040";
const C17_HEADER_NOT_JSON: &str = "07000000000000007b2278223a207b0000803f00000040";
const C17_FILE_SHORTER_THAN_8_BYTES: &str = "100000";

#[test]
fn c17_valid_loads_x_f32_1_2() {
    let bytes = unhex(C17_VALID);
    let recs = validate_safetensors(&bytes).expect("valid file");
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!((r.name.as_str(), r.dtype, r.shape.as_slice()), ("x", DType::F32, &[2usize][..]));
    let vals: Vec<f32> = bytes[r.range.clone()].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(vals, vec![1.0, 2.0]);
}

#[test]
fn c17_truncated_data_is_error() {
    assert!(matches!(kind(&unhex(C17_TRUNCATED_DATA)), E::OffsetsPastData { end: 8, data_len: 4, .. }));
}

#[test]
fn c17_header_len_past_eof_is_error() {
    assert!(matches!(kind(&unhex(C17_HEADER_LEN_PAST_EOF)), E::HeaderPastEof { header_len: 4096, .. }));
}

#[test]
fn c17_header_len_huge_is_error() {
    assert!(matches!(kind(&unhex(C17_HEADER_LEN_HUGE)), E::HeaderTooLarge { header_len: 0x7fff_ffff_ffff_ffff, .. }));
}

#[test]
fn c17_inverted_offsets_is_error() {
    assert!(matches!(kind(&unhex(C17_INVERTED_OFFSETS)), E::InvertedOffsets { begin: 8, end: 0, .. }));
}

#[test]
fn c17_single_offset_is_error() {
    match kind(&unhex(C17_SINGLE_OFFSET)) {
        E::BadEntry { name, reason } => assert!(name == "x" && reason.contains("exactly 2"), "{reason}"),
        k => panic!("{k:?}"),
    }
}

#[test]
fn c17_shape_bytes_mismatch_is_error() {
    assert!(matches!(kind(&unhex(C17_SHAPE_BYTES_MISMATCH)), E::SizeMismatch { needed: Some(16), span: 8, .. }));
}

#[test]
fn c17_header_not_json_is_error() {
    assert!(matches!(kind(&unhex(C17_HEADER_NOT_JSON)), E::HeaderNotJson(_)));
}

#[test]
fn c17_file_shorter_than_8_bytes_is_error() {
    assert!(matches!(kind(&unhex(C17_FILE_SHORTER_THAN_8_BYTES)), E::TooShort { len: 3 }));
}

/// Cross-checks the embedded copies against the project's copy of the case file.
#[test]
fn c17_embedded_files_match_case_file() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/cases/C17.json"))
        .expect("tests/cases/C17.json is part of the repository");
    for (name, hex) in [
        ("valid", C17_VALID),
        ("truncated_data", C17_TRUNCATED_DATA),
        ("header_len_past_eof", C17_HEADER_LEN_PAST_EOF),
        ("header_len_huge", C17_HEADER_LEN_HUGE),
        ("inverted_offsets", C17_INVERTED_OFFSETS),
        ("single_offset", C17_SINGLE_OFFSET),
        ("shape_bytes_mismatch", C17_SHAPE_BYTES_MISMATCH),
        ("header_not_json", C17_HEADER_NOT_JSON),
        ("file_shorter_than_8_bytes", C17_FILE_SHORTER_THAN_8_BYTES),
    ] {
        assert!(text.contains(&format!("\"{name}\": \"{hex}\"")), "{name} differs from C17.json");
    }
}

#[test]
fn empty_file_and_empty_header() {
    assert!(matches!(kind(&[]), E::TooShort { len: 0 }));
    assert!(matches!(kind(&file("", &[])), E::HeaderNotJson(_)));
    assert!(validate_safetensors(&file("{}", &[])).expect("no tensors").is_empty());
    assert!(matches!(kind(&file("[]", &[])), E::BadEntry { .. }));
}

#[test]
fn unknown_and_unsupported_dtypes() {
    for d in ["I8", "U16", "F8_E4M3", "float32", ""] {
        let h = format!(r#"{{"x":{{"dtype":"{d}","shape":[1],"data_offsets":[0,1]}}}}"#);
        assert!(matches!(kind(&file(&h, &[0])), E::UnknownDtype { .. }), "{d}");
    }
}

#[test]
fn all_supported_dtypes_accepted() {
    for d in DType::ALL {
        let s = dtype_to_safetensors(d).expect("supported");
        assert_eq!(dtype_from_safetensors(s), Some(d));
        let n = 3 * d.size();
        let h = format!(r#"{{"t":{{"dtype":"{s}","shape":[3],"data_offsets":[0,{n}]}}}}"#);
        let recs = validate_safetensors(&file(&h, &vec![0u8; n])).expect(s);
        assert_eq!((recs[0].dtype, recs[0].range.len()), (d, n));
    }
}

#[test]
fn malformed_entries() {
    let cases = [
        r#"{"x":{"shape":[1],"data_offsets":[0,4]}}"#,
        r#"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#,
        r#"{"x":{"dtype":"F32","shape":[1]}}"#,
        r#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
        r#"{"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
        r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
        r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}}"#,
        r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}}"#,
        r#"{"x":3}"#,
        r#"{"__metadata__":{"a":1}}"#,
    ];
    for h in cases {
        assert!(matches!(kind(&file(h, &[0; 4])), E::BadEntry { .. }), "{h}");
    }
}

#[test]
fn shape_overflow_is_size_mismatch_not_panic() {
    let h = r#"{"x":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#;
    assert!(matches!(kind(&file(h, &[0; 8])), E::SizeMismatch { needed: None, .. }));
    let h = r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}"#;
    assert!(matches!(kind(&file(h, &[0; 4])), E::OffsetsPastData { .. }));
}

#[test]
fn overlap_gap_and_trailing_bytes() {
    let two = |a: &str, b: &str| format!(r#"{{"a":{{"dtype":"U8","shape":[4],"data_offsets":{a}}},"b":{{"dtype":"U8","shape":[4],"data_offsets":{b}}}}}"#);
    assert!(matches!(kind(&file(&two("[0,4]", "[2,6]"), &[0; 8])), E::NotContiguous { .. }));
    assert!(matches!(kind(&file(&two("[0,4]", "[5,9]"), &[0; 9])), E::NotContiguous { .. }));
    assert!(matches!(kind(&file(&two("[0,4]", "[4,8]"), &[0; 9])), E::TrailingData { covered: 8, data_len: 9 }));
    let recs = validate_safetensors(&file(&two("[4,8]", "[0,4]"), &[0; 8])).expect("out-of-order names are fine");
    assert_eq!(recs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["b", "a"]);
}

#[test]
fn scalar_zero_size_and_metadata() {
    let h = r#"{"__metadata__":{"format":"pt"},"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]}}  "#;
    let (recs, meta) = validate_safetensors_with_metadata(&file(h, &[0; 8])).expect("valid");
    assert_eq!(meta.get("format").map(String::as_str), Some("pt"));
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().any(|r| r.name == "s" && r.shape.is_empty() && r.range.len() == 8));
    assert!(recs.iter().any(|r| r.name == "z" && r.shape == [0, 3] && r.range.is_empty()));
}

/// Every prefix and every single-byte corruption of a valid file must give Ok or Err, never a panic.
#[test]
fn truncations_and_bit_flips_never_panic() {
    let good = unhex(C17_VALID);
    for n in 0..good.len() {
        assert!(validate_safetensors(&good[..n]).is_err(), "prefix {n} accepted");
    }
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            let _ = validate_safetensors(&b);
        }
    }
}

#[test]
fn error_messages_are_one_line() {
    let e = validate_safetensors(&unhex(C17_INVERTED_OFFSETS)).expect_err("inverted");
    let msg = e.to_string();
    assert!(msg.starts_with("safetensors: ") && msg.contains("inverted") && !msg.contains('\n'), "{msg}");
}

fn tmp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ferrite-sdk-ckpt-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

#[test]
fn save_load_round_trip_every_dtype_atomically() {
    let h = crate::test_host::host();
    let base = [1.5f64, -2.0, 0.0, 7.0, 1.0, 3.0];
    let tensors: Vec<(String, Tensor)> =
        DType::ALL.iter().map(|&d| (format!("t_{d}"), h.from_f64(&base, &[2, 3], d).expect("tensor"))).collect();
    let dir = tmp_dir("rt");
    let path = dir.join("model.safetensors");
    std::fs::write(&path, b"old contents").expect("pre-existing file");
    let meta = HashMap::from([("epoch".to_string(), "3".to_string())]);
    save_safetensors(&path, &tensors, Some(meta)).expect("save");
    let loaded = load_safetensors(&h, &path).expect("load");
    assert_eq!(loaded.len(), tensors.len());
    for (name, t) in &tensors {
        let (_, l) = loaded.iter().find(|(n, _)| n == name).expect("present");
        assert_eq!((l.dtype(), l.shape()), (t.dtype(), t.shape()), "{name}");
        assert_eq!(l.to_vec_f64().expect("l"), t.to_vec_f64().expect("t"), "{name}");
    }
    assert_eq!(load_safetensors_metadata(&path).expect("meta").get("epoch").map(String::as_str), Some("3"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().filter(|e| e.file_name() != "model.safetensors").collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_rejects_duplicates_and_bad_dir_keeps_old_file() {
    let h = crate::test_host::host();
    let t = h.zeros(&[2], DType::F32).expect("t");
    assert!(to_safetensors_bytes(&[("a".into(), t.clone()), ("a".into(), t.clone())], None).is_err());
    assert!(to_safetensors_bytes(&[("__metadata__".into(), t.clone())], None).is_err());
    let missing = std::env::temp_dir().join("ferrite-no-such-dir-xyz").join("m.safetensors");
    assert!(matches!(save_safetensors(&missing, &[("a".into(), t)], None), Err(Error::Checkpoint { .. })));
}

#[test]
fn load_malformed_file_reports_path_and_kind() {
    let h = crate::test_host::host();
    let dir = tmp_dir("bad");
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, unhex(C17_TRUNCATED_DATA)).expect("write");
    match load_safetensors(&h, &path) {
        Err(Error::Safetensors { path: Some(p), kind: E::OffsetsPastData { .. } }) => assert!(p.ends_with("bad.safetensors")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(load_safetensors(&h, dir.join("absent")), Err(Error::Checkpoint { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn c17_valid_file_loads_as_tensor() {
    let h = crate::test_host::host();
    let loaded = load_safetensors_bytes(&h, &unhex(C17_VALID)).expect("valid");
    assert_eq!(loaded.len(), 1);
    let (name, x) = &loaded[0];
    assert_eq!((name.as_str(), x.dtype(), x.shape()), ("x", DType::F32, vec![2]));
    assert_eq!(x.to_vec::<f32>().expect("x"), [1.0, 2.0]);
}
