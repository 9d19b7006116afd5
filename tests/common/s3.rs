//! A real S3-compatible server for the cloud tests: s3s-fs (crates.io,
//! `scripts/s3-server.sh install`) on a free loopback port, storing objects
//! as files in a temporary directory; killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eloqstore::options::KvOptions;

pub const ACCESS_KEY: &str = "minioadmin";
pub const SECRET_KEY: &str = "minioadmin";
pub const BUCKET: &str = "eloqstore";

/// The s3s-fs binary: `$S3S_FS`, else on `PATH`, else `~/.cargo/bin`.
/// Missing, it fails the test (never a silent skip).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("s3s-fs");
            if p.is_file() {
                return p;
            }
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(h) = home {
        let p = h.join("bin/s3s-fs");
        if p.is_file() {
            return p;
        }
    }
    panic!("s3s-fs not found: run scripts/s3-server.sh install (or set S3S_FS)");
}

/// A running s3s-fs.
pub struct S3Server {
    child: Option<Child>,
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
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root").join(BUCKET)).unwrap();
        let mut s = S3Server {
            child: None,
            port: 0,
            dir,
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        };
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            s.port = port;
            if s.spawn() {
                return s;
            }
        }
        panic!("could not start s3s-fs on a free port");
    }

    fn spawn(&mut self) -> bool {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let mut child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--access-key",
                &self.access_key,
                "--secret-key",
                &self.secret_key,
            ])
            .arg(self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawning s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false; // port taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Where the objects live: `<root>/<bucket>/<key>`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL); objects stay on disk.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(Instant::now() < deadline, "s3s-fs did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
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
