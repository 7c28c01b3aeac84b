//! Flags, the config file and their defaults.

use super::*;

#[test]
fn defaults_provision_extension_500() {
    let s = Settings::from_cli(Cli::default()).expect("defaults");
    assert_eq!(s.sip_listen.to_string(), "127.0.0.1:5060");
    assert_eq!(s.http_listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.rtp_ports, (20000, 29999));
    assert!(s.extensions.contains_key("500"));
}

#[test]
fn file_keys_match_flags_and_flags_win() {
    let dir = std::env::temp_dir().join(format!("chorus-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("chorus.toml");
    std::fs::write(
        &path,
        "sip_listen = \"127.0.0.1:5070\"\nrtp_ports = \"30000-30100\"\n[extension.700]\npin = \"1234\"\nmax_members = 3\n",
    )
    .expect("write");
    let cli = Cli {
        sip_listen: Some("127.0.0.1:5080".parse().expect("addr")),
        config: Some(path),
        ..Cli::default()
    };
    let s = Settings::from_cli(cli).expect("settings");
    assert_eq!(s.sip_listen.port(), 5080);
    assert_eq!(s.rtp_ports, (30000, 30100));
    assert_eq!(s.extensions["700"].pin.as_deref(), Some("1234"));
    assert!(!s.extensions.contains_key("500"));
}

#[test]
fn invalid_settings_are_named() {
    let err = parse_port_range("5-2").expect_err("bad range");
    assert!(err.to_string().contains("rtp_ports"));
    let bad = ConferenceSettings {
        moderator_pin: Some("1234".into()),
        ..Default::default()
    };
    let err = validate_extension("500", &bad, 4).expect_err("moderator without pin");
    assert!(err.to_string().contains("moderator_pin"));
    let short = ConferenceSettings {
        pin: Some("123".into()),
        ..Default::default()
    };
    let err = validate_extension("500", &short, 4).expect_err("short PIN");
    assert!(err.to_string().contains("pin must be 4-16 digits"), "{err}");
    assert!(validate_extension("500", &short, 3).is_ok());
}

#[test]
fn guard_flags_parse_and_bad_ones_are_named() {
    let cli = Cli::try_parse_from([
        "chorus",
        "--sip-trusted-networks",
        "10.0.0.0/8, 192.0.2.7",
        "--unknown-extension",
        "answer",
        "--dialout-uri",
        "sip:{number}@192.0.2.1",
        "--dialout-deny",
        "00,011,1900",
        "--media-timeout",
        "5",
    ])
    .expect("flags");
    let s = Settings::from_cli(cli).expect("settings");
    assert_eq!(s.security.trusted_networks.len(), 2);
    assert_eq!(
        s.security.unknown_extension,
        chorus_engine::UnknownExtension::Answer
    );
    let policy = s.dialout.expect("dialout").policy;
    assert!(!policy.permits_number("19005551234"));
    assert!(policy.permits_number("5551234"));
    assert_eq!(s.media.media_timeout, std::time::Duration::from_secs(5));
    assert_eq!(s.server_header, "chorus", "no version by default");
    for (flag, value) in [
        ("--sip-trusted-networks", "10.0.0.0/33"),
        ("--unknown-extension", "maybe"),
        ("--min-pin-digits", "0"),
    ] {
        let cli = Cli::try_parse_from(["chorus", flag, value]).expect("flags");
        let err = Settings::from_cli(cli).expect_err(flag);
        assert!(
            err.to_string().contains(&flag[2..].replace('-', "_")),
            "{err}"
        );
    }
}

#[test]
fn a_node_of_several_is_named_and_reachable() {
    let single = Settings::from_cli(Cli::default()).expect("defaults");
    assert_eq!(single.cluster.node_name, "127.0.0.1:5060");
    assert_eq!(single.cluster.sip_uri, "sip:127.0.0.1:5060");
    assert_eq!(single.cluster.drain_timeout, std::time::Duration::ZERO);
    // A single node may listen everywhere; a node of several must say where it is.
    let everywhere = ["chorus", "--sip-listen", "0.0.0.0:5060"];
    assert!(Settings::from_cli(Cli::try_parse_from(everywhere).expect("flags")).is_ok());
    let shared = [
        "chorus",
        "--sip-listen",
        "0.0.0.0:5060",
        "--database",
        "postgres://chorus@127.0.0.1/chorus",
    ];
    let err = Settings::from_cli(Cli::try_parse_from(shared).expect("flags")).expect_err("shared");
    assert!(err.to_string().contains("advertise_sip"), "{err}");
    for (flag, value) in [
        ("--node-name", "a b"),
        ("--node-name", "'; DROP TABLE chorus_node; --"),
        ("--advertise-api", "ftp://example"),
    ] {
        let cli = Cli::try_parse_from(["chorus", flag, value]).expect("flags");
        let err = Settings::from_cli(cli).expect_err(value);
        assert!(
            err.to_string().contains(&flag[2..].replace('-', "_")),
            "{err}"
        );
    }
    let cli = Cli::try_parse_from([
        "chorus",
        "--node-name",
        "node-a",
        "--advertise-api",
        "http://10.0.0.5:8080/",
        "--drain-timeout",
        "600",
    ])
    .expect("flags");
    let node = Settings::from_cli(cli).expect("node").cluster;
    assert_eq!(node.api_url.as_deref(), Some("http://10.0.0.5:8080"));
    assert_eq!(node.drain_timeout, std::time::Duration::from_secs(600));
}
