//! A throwaway PostgreSQL cluster: `initdb` and `pg_ctl` of the newest server under
//! `/usr/lib/postgresql/*/bin` (or on `PATH`), in a temporary directory, on a free port, trust
//! authentication, stopped and removed on drop. As root it runs as the `postgres` system user,
//! since `initdb` refuses root. `hotline bench` starts one when it finds no server, as
//! `ops/test.sh` does; the fault tests start one to kill and restart.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster of this process's own.
pub struct PostgresCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    options: String,
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The directory holding `initdb` and `pg_ctl`: on `PATH`, else the newest under
/// `/usr/lib/postgresql/*/bin`.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .max_by_key(|bin| {
                // Versions compare as numbers: 9 < 15 < 16.
                bin.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
                    .unwrap_or(0)
            })
    })
}

impl PostgresCluster {
    /// Initialises and starts a cluster. `fsync` off makes a cluster for fault tests fast; a
    /// bench keeps it on, as production does. Fails with the command that installs the server
    /// where it is missing.
    pub fn start(fsync: bool) -> anyhow::Result<PostgresCluster> {
        let bin = server_binaries().context(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin: \
             install them with `apt-get install -y postgresql`",
        )?;
        let dir = tempfile::Builder::new().prefix("hotline-pg").tempdir().context("a directory for the cluster")?;
        if is_root() {
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status()?;
            anyhow::ensure!(status.success(), "chown postgres {} (is there a postgres user?)", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync={}",
            dir.path().display(),
            if fsync { "on" } else { "off" }
        );
        let cluster = PostgresCluster { dir, bin, port, options };
        let data = cluster.data();
        let out = cluster
            .command("initdb")
            .args(["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"])
            .output()
            .context("running initdb")?;
        anyhow::ensure!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        cluster.start_again()?;
        Ok(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// The cluster's directory (its data directory is `data` inside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Where to connect, as user `postgres` to database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again, after [`PostgresCluster::kill`]) and waits until it accepts
    /// connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        let log = self.dir.path().join("server.log").display().to_string();
        let out = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-l", &log, "-w", "-o", &self.options, "start"])
            .output()
            .context("running pg_ctl start")?;
        anyhow::ensure!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// Stops every server process at once, like a crash: no checkpoint, recovery on restart.
    pub fn kill(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output()
            .context("running pg_ctl stop")?;
        anyhow::ensure!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}
