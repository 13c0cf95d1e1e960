//! Certificate credentials and master key rotation through the CLI, as an operator and an
//! Entra admin would do them.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{ACCOUNT, Roster, Sim};

/// `roster connection certificate generate` into a directory beside the deployment: what it
/// printed, and the directory.
fn generate_certificate(roster: &Roster) -> (Value, PathBuf) {
    let out_dir = roster
        .write_file("placeholder", "")
        .with_file_name("certificates");
    let generated = roster.json(&[
        "connection",
        "certificate",
        "generate",
        ACCOUNT,
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    (generated, out_dir)
}

#[test]
fn an_admin_generates_uploads_and_switches_to_a_certificate() {
    let sim = Sim::start(20, 3, 4);
    let roster = Roster::connected_to(&sim);

    let refused = roster.fails(&["connection", "set", ACCOUNT, "--credential", "certificate"]);
    assert!(
        refused.contains("no valid certificate") && refused.contains("certificate generate"),
        "{refused}"
    );

    let (generated, _) = generate_certificate(&roster);
    let thumbprint = generated["thumbprint"].as_str().unwrap().to_owned();
    let pem = std::fs::read_to_string(generated["pem_file"].as_str().unwrap()).unwrap();
    let cer = std::fs::read(generated["cer_file"].as_str().unwrap()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(cer[0], 0x30, "the .cer file is DER (a SEQUENCE)");
    sim.upload_certificate(&pem);

    let switched = roster.json(&["connection", "set", ACCOUNT, "--credential", "certificate"]);
    assert_eq!(switched["credential"], "certificate");
    assert_eq!(
        switched["certificates"][0]["thumbprint"],
        thumbprint.as_str()
    );
    assert_eq!(switched["certificates"][0]["use"], "tried first");
    sim.rotate_secret();
    let test = roster.ok(&["connection", "test", ACCOUNT]);
    assert!(
        test.contains(&format!("the client ID and certificate {thumbprint}")),
        "{test}"
    );
    roster.ok(&["sync", "run", ACCOUNT]);
    assert!(
        !roster
            .json(&["user", "list", "--account", ACCOUNT])
            .as_array()
            .unwrap()
            .is_empty()
    );

    sim.remove_certificate(&thumbprint);
    let failed = roster.fails(&["sync", "run", ACCOUNT]);
    assert!(
        failed.contains("AADSTS700027") && failed.contains("Upload certificate"),
        "{failed}"
    );
    let kept = roster.fails(&["connection", "certificate", "remove", ACCOUNT, &thumbprint]);
    assert!(
        kept.contains("only valid certificate")
            && kept.contains("switch the connection to its key first"),
        "{kept}"
    );
    assert!(
        !roster.everything_printed().contains("PRIVATE KEY"),
        "the private key was printed"
    );
}

#[test]
fn the_key_expiry_date_is_a_setting_and_is_named_when_the_key_expires() {
    let sim = Sim::start(5, 1, 4);
    let roster = Roster::connected_to(&sim);
    let saved = roster.json(&[
        "connection",
        "set",
        ACCOUNT,
        "--key-expires-on",
        "2027-06-30",
    ]);
    assert_eq!(saved["key_expires_on"], "2027-06-30");
    assert_eq!(saved["credential_expires_on"], "2027-06-30");
    let refused = roster.fails(&[
        "connection",
        "set",
        ACCOUNT,
        "--key-expires-on",
        "30/06/2027",
    ]);
    assert!(refused.contains("YYYY-MM-DD"), "{refused}");
    sim.expire_secret();
    let test = roster.run(&["connection", "test", ACCOUNT]);
    let test = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.contains("AADSTS7000222") && test.contains("expires on 2027-06-30"),
        "{test}"
    );
    let cleared = roster.json(&["connection", "set", ACCOUNT, "--key-expires-on", "none"]);
    assert_eq!(cleared["key_expires_on"], Value::Null);
}

#[test]
fn rotating_the_master_key_keeps_every_secret_and_refuses_the_old_key() {
    let sim = Sim::start(5, 1, 4);
    let roster = Roster::connected_to(&sim);
    let (_, out_dir) = generate_certificate(&roster);
    let key_file = roster.data_dir().join("master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let new_key_file = out_dir.join("master.key.new");

    let rotated = roster.ok(&[
        "key",
        "rotate",
        "--new-key-file",
        new_key_file.to_str().unwrap(),
    ]);
    assert!(
        rotated.contains("1 client secret(s) and 1 certificate private key(s)"),
        "{rotated}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_key_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the new key file is private");
    }

    // The old key, still in place, no longer opens the secret.
    let refused = roster.fails(&["connection", "test", ACCOUNT]);
    assert!(refused.contains("does not match"), "{refused}");
    let again = roster.fails(&[
        "key",
        "rotate",
        "--new-key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(again.contains("current master key"), "{again}");

    // With the new key moved into place, everything opens again.
    std::fs::rename(&new_key_file, &key_file).unwrap();
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    assert_eq!(
        roster.json(&["connection", "test", ACCOUNT])["passed"],
        true
    );
}
