//! The checked-in `config/crd` files must match what the code generates.

use std::path::Path;

use kubefed::crds::{DEFAULT_FEDERATION_NAMESPACE, manifest_files};

#[test]
fn checked_in_crds_match_generated() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crd");
    let files = manifest_files(DEFAULT_FEDERATION_NAMESPACE).expect("manifests generate");
    let mut stale = Vec::new();
    for file in &files {
        let path = dir.join(&file.file_name);
        match std::fs::read_to_string(&path) {
            Ok(content) if content == file.content => {}
            Ok(_) => stale.push(format!("{} differs", path.display())),
            Err(error) => stale.push(format!("{} unreadable: {error}", path.display())),
        }
    }
    let expected: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
    for entry in std::fs::read_dir(&dir)
        .expect("config/crd exists")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        // kustomization.yaml lists the CRDs for `kubectl apply -k` (hack/crd-kustomization.sh).
        if name.ends_with(".yaml")
            && name != "kustomization.yaml"
            && !expected.contains(&name.as_str())
        {
            stale.push(format!(
                "{} is not generated any more",
                entry.path().display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "config/crd is out of date; run `make manifests`:\n{}",
        stale.join("\n")
    );
}
