//! A real S3-compatible server for the cloud tests: s3s-fs, run by
//! `scripts/s3-test-server.sh` (the one server script of every cloud test)
//! on a free loopback port, storing objects as files in a temporary
//! directory; killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

use eloqstore::options::KvOptions;

pub const ACCESS_KEY: &str = "minioadmin";
pub const SECRET_KEY: &str = "minioadmin";
pub const BUCKET: &str = "eloqstore";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-test-server.sh")
}

/// Installs s3s-fs once per test program when it is missing (the script's
/// `install`); a failure fails the test (never a silent skip).
fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let st = Command::new(script())
            .arg("install")
            .status()
            .expect("running scripts/s3-test-server.sh");
        assert!(st.success(), "s3-test-server.sh install failed");
    });
}

/// A running s3s-fs.
pub struct S3Server {
    running: bool,
    pub port: u16,
    dir: tempfile::TempDir,
    access_key: String,
    secret_key: String,
}

impl S3Server {
    /// Starts a server with the default credentials and the bucket
    /// `eloqstore` created.
    pub fn start() -> S3Server {
        S3Server::start_with(ACCESS_KEY, SECRET_KEY)
    }

    pub fn start_with(access_key: &str, secret_key: &str) -> S3Server {
        install();
        let mut s = S3Server {
            running: false,
            port: 0,
            dir: tempfile::tempdir().unwrap(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        };
        for _ in 0..20 {
            s.port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if s.run("start", &[BUCKET]) {
                s.running = true;
                return s;
            }
        }
        panic!("could not start s3s-fs on a free port");
    }

    /// Runs the script on this server's port and directory.
    fn run(&self, cmd: &str, buckets: &[&str]) -> bool {
        let out = Command::new(script())
            .arg(cmd)
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .args(buckets)
            .env("ELOQSTORE_S3_ACCESS_KEY", &self.access_key)
            .env("ELOQSTORE_S3_SECRET_KEY", &self.secret_key)
            .output()
            .expect("running scripts/s3-test-server.sh");
        if !out.status.success() && cmd == "start" {
            eprintln!(
                "s3-test-server.sh start {}: {}",
                self.port,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.success()
    }

    /// Where the objects live: `<root>/<bucket>/<key>`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); objects stay on disk.
    pub fn kill(&mut self) {
        if self.running {
            self.run("kill", &[]);
            self.running = false;
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.run("start", &[]) {
            assert!(Instant::now() < deadline, "s3s-fs did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.running = true;
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The file holding an object.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root().join(BUCKET).join(key)
    }

    /// Keys under `prefix/` (relative to it), sorted, read from the
    /// server's directory (independent of the client under test).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let base = self.root().join(BUCKET).join(prefix);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }

    /// Cloud-mode options for a store under `bucket/prefix`, caching in
    /// `cache_dir`.
    pub fn options(&self, prefix: &str, cache_dir: &Path) -> KvOptions {
        let mut o = KvOptions::default();
        o.store_path = vec![cache_dir.to_string_lossy().into_owned()];
        o.cloud_store_path = format!("{BUCKET}/{prefix}");
        o.cloud_endpoint = self.endpoint();
        o.cloud_access_key = self.access_key.clone();
        o.cloud_secret_key = self.secret_key.clone();
        o.data_append_mode = true;
        // Upstream's test settings: 1 MiB data files, 1 MiB manifests.
        o.pages_per_file_shift = 8;
        o.manifest_limit = 1 << 20;
        o.fd_limit = 130;
        o.local_space_limit = 200 << 20;
        o
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            walk(base, &p, out);
        } else if !name.starts_with('.') && !name.ends_with(".json") {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
