//! The lake location from the engine's config file: only its `lake:` section is read
//! (the keys of [`LakeLocation`]; the writer's keys of that section and every other
//! section are ignored), plus `state_dir`, since the engine's lake defaults to
//! `<state_dir>/lake` when `lake.url` is not set.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use corvid_lake::LakeLocation;

use crate::SqlError;

#[derive(Deserialize)]
struct LakeSection {
    #[serde(default)]
    state_dir: Option<PathBuf>,
    #[serde(default)]
    lake: Option<serde_yaml_ng::Value>,
}

/// The engine's default `state_dir`.
const DEFAULT_STATE_DIR: &str = "data";

/// The lake location of the engine config text `text`: its `lake:` section, the URL
/// defaulting to `<state_dir>/lake` as in the engine.
pub fn lake_location_from_yaml(text: &str, path: &str) -> Result<LakeLocation, SqlError> {
    let error = |message: String| SqlError::Config {
        path: path.to_owned(),
        message,
    };
    let section: LakeSection = if text.trim().is_empty() {
        LakeSection {
            state_dir: None,
            lake: None,
        }
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| error(e.to_string()))?
    };
    let lake = section.lake.filter(|value| !value.is_null());
    let has_url = lake
        .as_ref()
        .and_then(|value| value.get("url"))
        .is_some_and(|url| !url.is_null());
    let mut location: LakeLocation = match lake {
        Some(value) => serde_yaml_ng::from_value(value).map_err(|e| error(format!("lake: {e}")))?,
        None => LakeLocation::default(),
    };
    if !has_url {
        let state_dir = section
            .state_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        location.url = state_dir.join("lake").display().to_string();
    }
    Ok(location)
}

/// The `lake:` section of the engine config at `path`.
pub fn lake_location_from_file(path: &Path) -> Result<LakeLocation, SqlError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| SqlError::Config {
        path: shown.clone(),
        message: error.to_string(),
    })?;
    lake_location_from_yaml(&text, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_lake_section_is_read() {
        let yaml = "kafka:\n  brokers: localhost:9092\nrules:\n  - rules/\nlake:\n  url: s3://corvid/lake\n  endpoint: http://127.0.0.1:9000\n  region: us-east-1\n  access_key_id: minio\n  secret_access_key: minio123\n  allow_http: true\n";
        let location = lake_location_from_yaml(yaml, "engine.yml").expect("lake");
        assert_eq!(location.url, "s3://corvid/lake");
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(location.allow_http);
        assert_eq!(
            lake_location_from_yaml("kafka: {}\n", "e.yml")
                .expect("default")
                .url,
            "data/lake"
        );
        let location = lake_location_from_yaml(
            "state_dir: /var/corvid\nlake:\n  region: eu-west-1\n",
            "e.yml",
        )
        .expect("state_dir");
        assert_eq!(location.url, "/var/corvid/lake");
        assert_eq!(location.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn the_writers_keys_are_ignored_and_a_bad_value_names_the_file() {
        let location = lake_location_from_yaml("lake:\n  url: /tmp/x\n  roll_secs: 60\n", "e.yml")
            .expect("writer keys are not ours");
        assert_eq!(location.url, "/tmp/x");
        let error = lake_location_from_yaml("lake:\n  allow_http: maybe\n", "engine.yml")
            .expect_err("not a boolean");
        let text = error.to_string();
        assert!(text.starts_with("config engine.yml:"), "{text}");
    }
}
