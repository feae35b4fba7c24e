//! Writes the generated manifests to a directory (`kubefed-operator crds --output-dir`).

use std::path::{Path, PathBuf};

use super::manifests::{ManifestError, manifest_files};

/// Why the manifests could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteManifestsError {
    /// Generating the manifests failed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Writes one YAML file per CRD and the default FederatedTypeConfigs (in `namespace`) into
/// `dir`, creating it if needed. Returns the paths written, sorted.
pub fn write_manifests(dir: &Path, namespace: &str) -> Result<Vec<PathBuf>, WriteManifestsError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteManifestsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for file in manifest_files(namespace)? {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, file.content).map_err(|source| WriteManifestsError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
