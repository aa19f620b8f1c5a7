//! Shared by the integration tests: a fixture lake in a temporary directory and the
//! `corvid-query` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use corvid_lake::{Lake, LakeLocation};
use corvid_sql::testing::{write_fixture_lake_blocking, FixtureFile};

/// A fixture lake written into a fresh temporary directory.
pub struct FixtureLake {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub lake: Lake,
    pub files: Vec<FixtureFile>,
}

pub fn fixture_lake() -> FixtureLake {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("lake");
    let lake = Lake::open(&LakeLocation {
        url: root.display().to_string(),
        ..LakeLocation::default()
    })
    .expect("open the lake");
    let files = write_fixture_lake_blocking(&lake).expect("write the fixture lake");
    let root = root.canonicalize().expect("canonical root");
    FixtureLake {
        dir,
        root,
        lake,
        files,
    }
}

/// Runs `corvid-query` with `args`.
pub fn corvid_query<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_corvid-query"))
        .args(args)
        .env_remove("CORVID_LAKE")
        .output()
        .expect("run corvid-query")
}

/// Runs a query on the lake at `root`, expecting success; returns standard output.
pub fn query_ok(root: &Path, format: &str, sql: &str) -> String {
    let output = corvid_query([
        "--lake",
        &root.display().to_string(),
        "--format",
        format,
        sql,
    ]);
    assert!(
        output.status.success(),
        "corvid-query failed on {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// JSON lines output as values.
pub fn json_rows(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The project's Python venv, as engine/tests/common `venv_python()` finds it: a missing
/// venv fails the test rather than skipping it.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "no Python venv at {}: run `make venv` (it installs requirements-dev.txt)",
        venv.display()
    );
    python
}

/// The `corvid` binary: `CORVID_BIN`, else the one `cargo test --workspace` built next to
/// `corvid-query`, else built here (so a check that needs it never skips).
pub fn corvid_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CORVID_BIN") {
        return PathBuf::from(path);
    }
    let query = PathBuf::from(env!("CARGO_BIN_EXE_corvid-query"));
    let sibling = query.with_file_name(format!("corvid{}", std::env::consts::EXE_SUFFIX));
    if !sibling.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "corvid-engine", "--bin", "corvid"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build corvid");
        assert!(status.success(), "cannot build corvid");
    }
    sibling
}
