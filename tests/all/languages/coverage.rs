//! Every example exists in every language and is covered by the shared suite: adding an example, or
//! a language build of one, without the others fails here.

use std::collections::BTreeSet;

use keel::cli::build::Lang;

use super::EXAMPLES;
use super::builds::repo_root;

fn dirs(path: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_example_exists_in_every_language_and_is_tested() {
    let root = repo_root().join("guest-examples");
    let examples = dirs(&root);
    let tested: BTreeSet<String> = EXAMPLES.iter().map(|(e, _)| (*e).to_owned()).collect();
    assert_eq!(
        examples, tested,
        "guest-examples/ and the examples the language suite runs differ"
    );
    let languages: BTreeSet<String> = Lang::ALL.iter().map(|l| l.as_str().to_owned()).collect();
    let mut missing = Vec::new();
    for example in &examples {
        let mut found = dirs(&root.join(example));
        // The test-kit scenarios every example has (run by `testkit.rs`), not a language.
        if !found.remove("scenarios") {
            missing.push(format!("guest-examples/{example}/scenarios is missing"));
        }
        for lang in languages.difference(&found) {
            missing.push(format!("guest-examples/{example}/{lang} is missing"));
        }
        for extra in found.difference(&languages) {
            missing.push(format!(
                "guest-examples/{example}/{extra} is not a language the suite knows"
            ));
        }
        // Each build holds what `keel build` detects as that language.
        for lang in Lang::ALL {
            let dir = root.join(example).join(lang.as_str());
            if dir.is_dir() {
                match keel::cli::build::detect(&dir) {
                    Ok(detected) => assert_eq!(detected, lang, "{}", dir.display()),
                    Err(error) => missing.push(error.to_string()),
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
