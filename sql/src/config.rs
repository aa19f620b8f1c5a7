//! The lake location from the engine's config file: only its `lake:` section is read
//! (the keys of [`LakeLocation`]; the writer's keys of that section and every other
//! section are ignored).

use std::path::Path;

use serde::Deserialize;

use corvid_lake::LakeLocation;

use crate::SqlError;

#[derive(Deserialize)]
struct LakeSection {
    #[serde(default)]
    lake: Option<LakeLocation>,
}

/// The `lake:` section of the YAML text `text`; the default location when it is absent.
pub fn lake_location_from_yaml(text: &str, path: &str) -> Result<LakeLocation, SqlError> {
    if text.trim().is_empty() {
        return Ok(LakeLocation::default());
    }
    let section: LakeSection = serde_yaml_ng::from_str(text).map_err(|error| SqlError::Config {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    Ok(section.lake.unwrap_or_default())
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
            lake_location_from_yaml("kafka: {}\n", "e.yml").expect("default"),
            LakeLocation::default()
        );
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
