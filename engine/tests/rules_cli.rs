//! `corvid rules test`, run as a rule author runs it: the repository's detections pass,
//! and one flipped `ExpectedResult` makes the command fail.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// Runs `corvid rules test <path>`; returns whether it succeeded and its stdout.
fn corvid_rules_test(path: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_corvid"))
        .args(["rules", "test"])
        .arg(path)
        .output()
        .expect("run corvid");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        output.status.success(),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read rules") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy file");
        }
    }
}

#[test]
fn the_repository_rules_pass() {
    let (success, report) = corvid_rules_test(&repository_rules());
    assert!(success, "{report}");
    let summary = report
        .lines()
        .find(|line| line.ends_with(" passed, 0 failed"))
        .unwrap_or_else(|| panic!("no summary line in:\n{report}"));
    let passed: usize = summary
        .split(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("bad summary line `{summary}`"));
    assert!(passed > 0, "{report}");
}

#[test]
fn a_flipped_expectation_fails_the_command() {
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(&repository_rules(), copy.path());
    let rule = copy
        .path()
        .join("osquery_rules/osquery_outside_office_login.yml");
    let yaml = std::fs::read_to_string(&rule).expect("read rule");
    assert!(yaml.contains("ExpectedResult: true"), "fixture changed");
    std::fs::write(
        &rule,
        yaml.replacen("ExpectedResult: true", "ExpectedResult: false", 1),
    )
    .expect("write rule");

    let (success, report) = corvid_rules_test(copy.path());
    assert!(!success, "{report}");
    assert!(
        report.lines().any(|line| line.ends_with(", 1 failed")),
        "{report}"
    );
    assert!(
        report.contains("FAIL [Osquery.OutsideOfficeLogin]"),
        "{report}"
    );
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rule_corpus")
        .join(name)
}

/// The (verdict, `[id] name`) of each test line of a report.
fn verdicts(report: &str) -> Vec<(String, String)> {
    report
        .lines()
        .filter_map(|line| {
            let (verdict, rest) = line.split_once(' ')?;
            if verdict != "PASS" && verdict != "FAIL" {
                return None;
            }
            let end = rest.find("] ")? + 1;
            let name = rest[end + 1..].split(": ").next().unwrap_or_default();
            Some((verdict.to_string(), format!("{} {name}", &rest[..end])))
        })
        .collect()
}

#[test]
fn the_feature_corpus_passes_as_under_pat() {
    let (success, report) = corvid_rules_test(&corpus("features"));
    assert!(success, "{report}");
    // `pat test --path engine/tests/rule_corpus/features`: 29 passed, none failed.
    assert!(report.contains("\n29 passed, 0 failed\n"), "{report}");
}

#[test]
fn the_failing_corpus_fails_exactly_the_tests_pat_fails() {
    let (success, report) = corvid_rules_test(&corpus("failing"));
    assert!(!success, "{report}");
    let verdicts = verdicts(&report);
    assert_eq!(verdicts.len(), 20, "{report}");
    for (verdict, test) in &verdicts {
        let expected = if test.contains("] fails - ") {
            "FAIL"
        } else {
            "PASS"
        };
        assert_eq!(verdict, expected, "{test} in\n{report}");
    }
}

#[test]
fn broken_files_are_reported_and_the_rest_is_tested() {
    let (success, report) = corvid_rules_test(&corpus("broken"));
    assert!(!success, "{report}");
    assert!(
        report.contains("FAIL [Broken.Syntax] (load): SyntaxError: ")
            && report.contains("broken_syntax.py:1)"),
        "{report}"
    );
    assert!(
        report.contains("FAIL [Broken.Import] (load): ModuleNotFoundError: "),
        "{report}"
    );
    assert!(
        report.contains("FAIL [Broken.NoRule] (load): AssertionError: "),
        "{report}"
    );
    assert!(
        report.contains("PASS [Broken.Working] the working rule beside broken ones still passes"),
        "{report}"
    );
    assert!(report.contains("\n1 passed, 3 failed\n"), "{report}");
}
