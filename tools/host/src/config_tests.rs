//! Tests of [`super`]: parsing, defaults, overrides, validation.

use super::*;
use std::time::Duration;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn empty_file_gives_documented_defaults() {
    let c = TrainConfig::from_toml_str("", "test").unwrap();
    assert_eq!(c, TrainConfig::default());
    assert_eq!(c.model, "models.spp_net");
    assert_eq!(c.dataset, "datasets.digits");
    assert_eq!(c.sizes, vec![8, 16]);
    assert_eq!(c.optimizer, OptimizerKind::Sgd);
    let r = c.resolve(at(0)).unwrap();
    assert_eq!(r.lr, Some(0.05));
    assert_eq!(r.weight_decay, Some(5e-4));
    assert_eq!(r.run_dir, Some(PathBuf::from("runs/19700101-000000")));
}

#[test]
fn full_file_parses_and_round_trips() {
    let text = r#"
        name = "exp1"
        model = "models.spp_net"
        dataset = "datasets.digits"
        sizes = [8, 12, 16]
        epochs = 5
        batch_size = 32
        optimizer = "adamw"
        lr = 0.002
        momentum = 0.8
        weight_decay = 0.05
        seed = 9
        plugin_path = ["target/debug", "plugins/x.so"]
        [model_config]
        channels = [16, 32]
        [dataset_config]
        test_fraction = 0.25
    "#;
    let c = TrainConfig::from_toml_str(text, "t.toml").unwrap().resolve(at(0)).unwrap();
    assert_eq!(c.optimizer, OptimizerKind::Adamw);
    assert_eq!(c.lr(), 0.002);
    assert_eq!(c.run_dir, Some(PathBuf::from("runs/exp1")));
    assert_eq!(c.plugin_path.len(), 2);
    assert_eq!(c.model_config_toml().trim(), "channels = [16, 32]");
    let ds: toml::Table = toml::from_str(&c.dataset_config_toml(12)).unwrap();
    assert_eq!(ds["size"].as_integer(), Some(12));
    assert_eq!(ds["test_fraction"].as_float(), Some(0.25));
    let again = TrainConfig::from_toml_str(&c.to_toml().unwrap(), "echo").unwrap();
    assert_eq!(again, c);
}

#[test]
fn unknown_keys_and_wrong_types_are_one_line_parse_errors() {
    for (text, needle) in
        [("epoch = 3", "epoch"), ("sizes = 8", "sizes"), ("optimizer = \"adam\"", "adam"), ("lr = ", "")]
    {
        let e = TrainConfig::from_toml_str(text, "cfg.toml").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ConfigError::Parse { .. }), "{text}: {msg}");
        assert!(msg.starts_with("cfg.toml: ") && msg.contains(needle) && !msg.contains('\n'), "{text}: {msg}");
    }
}

#[test]
fn op_versions_table_parses_round_trips_and_rejects_versioned_keys() {
    let c = TrainConfig::from_toml_str("[op_versions]\n\"test::add_flavor\" = 1\n", "t").unwrap();
    assert_eq!(c.op_versions.get("test::add_flavor"), Some(&1));
    let again = TrainConfig::from_toml_str(&c.to_toml().unwrap(), "t").unwrap();
    assert_eq!(again.op_versions, c.op_versions);
    let bad = TrainConfig::from_toml_str("[op_versions]\n\"test::add_flavor@2\" = 1\n", "t").unwrap();
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("op_versions") && e.lines().count() == 1, "{e}");
}

#[test]
fn validation_names_the_bad_key() {
    for (text, needle) in [
        ("sizes = []", "sizes"),
        ("sizes = [0]", "sizes"),
        ("sizes = [8, 8]", "twice"),
        ("sizes = [5000]", "sizes"),
        ("epochs = 0", "epochs"),
        ("batch_size = 0", "batch_size"),
        ("lr = -1.0", "lr"),
        ("lr = nan", "lr"),
        ("momentum = 1.0", "momentum"),
        ("weight_decay = -0.1", "weight_decay"),
        ("model = \"\"", "model"),
        ("dataset = \" \"", "dataset"),
        ("name = \"a/b\"", "name"),
        ("name = \"..\"", "name"),
        ("[dataset_config]\nsize = 8", "dataset_config.size"),
    ] {
        let e = TrainConfig::from_toml_str(text, "t").unwrap().resolve(at(0)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("invalid config: ") && msg.contains(needle) && !msg.contains('\n'),
            "{text}: {msg}"
        );
    }
}

#[test]
fn overrides_replace_and_merge() {
    let mut c = TrainConfig::from_toml_str("epochs = 3\n[model_config]\na = 1\nb = 2", "t").unwrap();
    let o = ConfigOverrides {
        epochs: Some(7),
        sizes: Some(vec![16]),
        optimizer: Some(OptimizerKind::Adamw),
        name: Some("cli".into()),
        plugin_path: vec!["p".into()],
        model_config: vec!["b = 3".into(), "c = \"x\"".into()],
        dataset_config: vec!["seed = 4".into()],
        ..Default::default()
    };
    c.apply(&o).unwrap();
    let c = c.resolve(at(0)).unwrap();
    assert_eq!((c.epochs, c.sizes.clone(), c.optimizer), (7, vec![16], OptimizerKind::Adamw));
    assert_eq!(c.lr(), 1e-3);
    assert_eq!(c.weight_decay(), 1e-2);
    assert_eq!(c.run_dir, Some(PathBuf::from("runs/cli")));
    assert_eq!(c.model_config["a"].as_integer(), Some(1));
    assert_eq!(c.model_config["b"].as_integer(), Some(3));
    assert_eq!(c.model_config["c"].as_str(), Some("x"));
    assert_eq!(c.dataset_config["seed"].as_integer(), Some(4));
    let bad = ConfigOverrides { model_config: vec!["not toml".into()], ..Default::default() };
    let e = TrainConfig::default().apply(&bad).unwrap_err().to_string();
    assert!(e.starts_with("--model-config: "), "{e}");
}

#[test]
fn load_reports_missing_file() {
    let e = TrainConfig::load(Path::new("/nonexistent/ferrite.toml")).unwrap_err().to_string();
    assert!(e.contains("cannot read config file /nonexistent/ferrite.toml"), "{e}");
}

#[test]
fn utc_stamp_known_dates() {
    assert_eq!(utc_stamp(at(0)), "19700101-000000");
    assert_eq!(utc_stamp(at(951_782_400)), "20000229-000000");
    assert_eq!(utc_stamp(at(1_735_689_599)), "20241231-235959");
    assert_eq!(utc_stamp(at(1_709_210_096)), "20240229-123456");
}

#[test]
fn stop_after_epoch_must_be_below_the_last_epoch() {
    let mut c = TrainConfig { epochs: 3, ..Default::default() };
    c.parallel.strategy = "ddp".into();
    c.parallel.stop_after_epoch = Some(2);
    c.validate().unwrap();
    c.parallel.stop_after_epoch = Some(3);
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("--stop-after-epoch 3 must be below --epochs 3"), "{e}");
}
