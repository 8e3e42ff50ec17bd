//! Architecture checks: crate dependencies point one way, every module opens with a `//!` doc,
//! and `anyhow` / `#[tokio::main]` live only in `ops`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The allowed `hotline-*` dependencies of each crate (DESIGN.md, "Workspace").
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let set = |names: &[&'static str]| names.iter().copied().collect::<BTreeSet<_>>();
    BTreeMap::from([
        ("hotline-domain", set(&[])),
        ("hotline-commands", set(&["hotline-domain"])),
        ("hotline-projections", set(&["hotline-domain", "hotline-commands"])),
        ("hotline-gateway-adapters", set(&["hotline-domain", "hotline-commands", "hotline-projections"])),
        ("hotline-graphql", set(&["hotline-domain", "hotline-commands", "hotline-projections"])),
        ("hotline-replay-tests", set(&["hotline-domain", "hotline-commands", "hotline-projections"])),
        (
            "hotline-ops",
            set(&[
                "hotline-domain",
                "hotline-commands",
                "hotline-projections",
                "hotline-gateway-adapters",
                "hotline-graphql",
            ]),
        ),
    ])
}

fn metadata() -> cargo_metadata::Metadata {
    cargo_metadata::MetadataCommand::new()
        .manifest_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata")
}

#[test]
fn crate_dependencies_point_one_way() {
    let allowed = allowed();
    let metadata = metadata();
    let members: BTreeSet<String> = metadata.workspace_packages().iter().map(|p| p.name.to_string()).collect();
    let expected: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(members, expected, "workspace members changed: update this test");
    for package in metadata.workspace_packages() {
        let permitted = &allowed[package.name.as_str()];
        for dependency in &package.dependencies {
            let normal = dependency.kind == cargo_metadata::DependencyKind::Normal;
            if normal && dependency.name.starts_with("hotline-") {
                assert!(
                    permitted.contains(dependency.name.as_str()),
                    "{} must not depend on {}",
                    package.name,
                    dependency.name
                );
            }
            if normal && dependency.name == "anyhow" {
                assert_eq!(package.name.as_str(), "hotline-ops", "only ops may use anyhow");
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_opens_with_a_doc_and_tokio_main_is_only_in_ops() {
    let metadata = metadata();
    let mut checked = 0;
    for package in metadata.workspace_packages() {
        let src = package.manifest_path.parent().expect("crate dir").join("src");
        let mut files = Vec::new();
        rust_files(src.as_std_path(), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            assert!(first.starts_with("//!"), "{} does not open with a //! module doc", file.display());
            if text.contains("#[tokio::main]") {
                assert_eq!(package.name.as_str(), "hotline-ops", "#[tokio::main] in {}", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} modules found");
}
