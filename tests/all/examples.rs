//! Every guest example has a test: adding an example without one fails here.

use std::path::Path;

/// Examples and the test module that covers each.
const COVERED: [(&str, &str); 3] = [
    ("order-processing", "order_processing"),
    ("fan-out", "fan_out"),
    ("approval", "approval"),
];

#[test]
fn every_guest_example_has_a_test_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-examples");
    let mut found: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut covered: Vec<String> = COVERED.iter().map(|(e, _)| (*e).to_owned()).collect();
    covered.sort();
    assert_eq!(
        found, covered,
        "guest-examples and the tests that cover them differ"
    );
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/all");
    for (example, module) in COVERED {
        let file = tests.join(format!("{module}.rs"));
        assert!(
            file.exists(),
            "example {example} has no test module {}",
            file.display()
        );
        for language in std::fs::read_dir(root.join(example))
            .unwrap()
            .filter_map(|e| e.ok())
        {
            assert!(
                language.path().join("Cargo.toml").exists() || language.file_name() != "rust",
                "the Rust build of {example} is missing its Cargo.toml"
            );
        }
    }
}
