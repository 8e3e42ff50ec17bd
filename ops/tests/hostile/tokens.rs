//! Tokens and the keys that sign them.

use crate::support::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn no_token_answers_401_unauthenticated() {
    let answer = query(None, "{ me { user } }");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "UNAUTHENTICATED");
}

#[test]
fn a_forged_token_answers_401_unauthenticated() {
    let answer = query(Some("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"), "{ me { user } }");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "UNAUTHENTICATED");
}

#[test]
fn the_bearer_scheme_in_any_case_is_accepted() {
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let answer = query(Some(&format!("{scheme} {}", server().token)), "{ me { user } }");
        assert_eq!(answer.status, 200, "{scheme}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.json()["data"]["me"]["user"], "tj01-agent1", "{scheme}");
    }
}

#[test]
fn the_servers_key_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data_dir = &server().data_dir;
    for key in ["jwt-hs256.key", "seal-ed25519.key"] {
        let mode = std::fs::metadata(data_dir.join(key)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{key}: {mode:o}");
    }
}

#[test]
fn serve_refuses_a_key_file_others_may_read() {
    use std::os::unix::fs::PermissionsExt;
    for key in ["jwt-hs256.key", "seal-ed25519.key"] {
        let dir = tempfile::tempdir().unwrap();
        // Creates the token key; a seal key is written as an operator might, readable by all.
        hotline(dir.path(), &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
        let seal = dir.path().join("seal-ed25519.key");
        std::fs::write(&seal, "11".repeat(32)).unwrap();
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join(key);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("HOTLINE_DATABASE_URL")
            .env("HOTLINE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        // It must exit by itself; a server that came up is killed and the test fails.
        let mut exited = None;
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(status) = exited else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started on a world-readable {key}");
        };
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(!status.success(), "{key}: {stderr}");
        assert!(stderr.contains(&format!("chmod 600 {}", path.display())), "{key}: {stderr}");
    }
}
