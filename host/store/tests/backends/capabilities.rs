//! Functions' capabilities: grants, configuration values and sealed secrets, changed one at a time or
//! replaced as a whole, and read back with and without the active module of an activity.

use std::collections::BTreeMap;

use keel_store::{CapabilityChange, Holdings, Sealed, Store};

use crate::support::stores;

fn sealed(key_id: &str, byte: u8) -> Sealed {
    Sealed {
        key_id: key_id.to_owned(),
        nonce: vec![byte; 24],
        ciphertext: vec![byte, 0, 255, byte],
    }
}

async fn change(s: &Store, change: CapabilityChange) -> bool {
    s.change_capability(change, 100).await.unwrap()
}

fn grant(function: &str, pattern: &str) -> CapabilityChange {
    CapabilityChange::Grant {
        function: function.to_owned(),
        pattern: pattern.to_owned(),
    }
}

fn revoke(function: &str, pattern: &str) -> CapabilityChange {
    CapabilityChange::Revoke {
        function: function.to_owned(),
        pattern: pattern.to_owned(),
    }
}

#[tokio::test]
async fn grants_are_added_once_and_revoked_once() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        assert!(change(s, grant("Fetch", "https://b.example")).await, "{b}");
        assert!(change(s, grant("Fetch", "https://a.example")).await, "{b}");
        // Granting again is accepted and stores nothing more.
        assert!(change(s, grant("Fetch", "https://a.example")).await, "{b}");
        assert!(change(s, grant("Other", "https://c.example")).await, "{b}");
        assert_eq!(
            s.holdings("Fetch").await.unwrap().grants,
            ["https://a.example", "https://b.example"],
            "{b}"
        );
        assert!(change(s, revoke("Fetch", "https://a.example")).await, "{b}");
        // Nothing left to revoke: false, and nothing else changes.
        assert!(
            !change(s, revoke("Fetch", "https://a.example")).await,
            "{b}"
        );
        assert!(
            !change(s, revoke("Nobody", "https://b.example")).await,
            "{b}"
        );
        assert_eq!(
            s.holdings("Fetch").await.unwrap().grants,
            ["https://b.example"],
            "{b}"
        );
        assert_eq!(
            s.holdings("Other").await.unwrap().grants,
            ["https://c.example"],
            "{b}"
        );
    }
}

#[tokio::test]
async fn configuration_is_set_overwritten_and_unset() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        let set = |key: &str, value: &str| CapabilityChange::SetConfig {
            function: "Fetch".to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
        };
        let unset = |key: &str| CapabilityChange::UnsetConfig {
            function: "Fetch".to_owned(),
            key: key.to_owned(),
        };
        assert!(change(s, set("region", "eu")).await, "{b}");
        assert!(change(s, set("mode", "fast")).await, "{b}");
        assert!(change(s, set("region", "us")).await, "{b}");
        let config = s.holdings("Fetch").await.unwrap().config;
        assert_eq!(
            config,
            BTreeMap::from([
                ("mode".to_owned(), "fast".to_owned()),
                ("region".to_owned(), "us".to_owned()),
            ]),
            "{b}"
        );
        assert!(change(s, unset("mode")).await, "{b}");
        assert!(!change(s, unset("mode")).await, "{b}");
        let config = s.holdings("Fetch").await.unwrap().config;
        assert_eq!(
            config,
            BTreeMap::from([("region".to_owned(), "us".to_owned())]),
            "{b}"
        );
        assert!(s.holdings("Other").await.unwrap().config.is_empty(), "{b}");
    }
}

#[tokio::test]
async fn secrets_are_stored_sealed_overwritten_and_unset() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        let set = |name: &str, value: Sealed| CapabilityChange::SetSecret {
            function: "Fetch".to_owned(),
            name: name.to_owned(),
            sealed: value,
        };
        let unset = |name: &str| CapabilityChange::UnsetSecret {
            function: "Fetch".to_owned(),
            name: name.to_owned(),
        };
        assert!(change(s, set("token", sealed("k1", 1))).await, "{b}");
        assert!(change(s, set("other", sealed("k1", 2))).await, "{b}");
        assert!(change(s, set("token", sealed("k2", 3))).await, "{b}");
        let secrets = s.holdings("Fetch").await.unwrap().secrets;
        assert_eq!(
            secrets,
            BTreeMap::from([
                ("other".to_owned(), sealed("k1", 2)),
                ("token".to_owned(), sealed("k2", 3)),
            ]),
            "{b}"
        );
        assert!(change(s, unset("other")).await, "{b}");
        assert!(!change(s, unset("other")).await, "{b}");
        let secrets = s.holdings("Fetch").await.unwrap().secrets;
        assert_eq!(
            secrets,
            BTreeMap::from([("token".to_owned(), sealed("k2", 3))]),
            "{b}"
        );
    }
}

#[tokio::test]
async fn replace_sets_grants_and_configuration_exactly_and_adds_secrets() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        change(s, grant("Fetch", "https://old.example")).await;
        change(s, grant("Fetch", "https://kept.example")).await;
        change(s, grant("Other", "https://other.example")).await;
        change(
            s,
            CapabilityChange::SetConfig {
                function: "Fetch".to_owned(),
                key: "old".to_owned(),
                value: "1".to_owned(),
            },
        )
        .await;
        change(
            s,
            CapabilityChange::SetSecret {
                function: "Fetch".to_owned(),
                name: "kept".to_owned(),
                sealed: sealed("k1", 1),
            },
        )
        .await;
        let replaced = change(
            s,
            CapabilityChange::Replace {
                function: "Fetch".to_owned(),
                grants: vec![
                    "https://new.example".to_owned(),
                    "https://kept.example".to_owned(),
                    "https://new.example".to_owned(),
                ],
                config: BTreeMap::from([("new".to_owned(), "2".to_owned())]),
                secrets: BTreeMap::from([("added".to_owned(), sealed("k2", 2))]),
            },
        )
        .await;
        assert!(replaced, "{b}");
        let held = s.holdings("Fetch").await.unwrap();
        assert_eq!(
            held,
            Holdings {
                grants: vec![
                    "https://kept.example".to_owned(),
                    "https://new.example".to_owned()
                ],
                config: BTreeMap::from([("new".to_owned(), "2".to_owned())]),
                // Secrets are only added: the ones not named stay.
                secrets: BTreeMap::from([
                    ("added".to_owned(), sealed("k2", 2)),
                    ("kept".to_owned(), sealed("k1", 1)),
                ]),
            },
            "{b}"
        );
        // Another function's grants are untouched.
        assert_eq!(
            s.holdings("Other").await.unwrap().grants,
            ["https://other.example"],
            "{b}"
        );
        // Replacing with nothing empties grants and configuration, and is still a change.
        let emptied = change(
            s,
            CapabilityChange::Replace {
                function: "Fetch".to_owned(),
                grants: Vec::new(),
                config: BTreeMap::new(),
                secrets: BTreeMap::new(),
            },
        )
        .await;
        assert!(emptied, "{b}");
        let held = s.holdings("Fetch").await.unwrap();
        assert!(held.grants.is_empty(), "{b}");
        assert!(held.config.is_empty(), "{b}");
        assert_eq!(held.secrets.len(), 2, "{b}");
    }
}

#[tokio::test]
async fn activity_setup_reads_the_active_module_with_the_holdings() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        // Nothing deployed, nothing held.
        assert_eq!(
            s.activity_setup("Fetch").await.unwrap(),
            (None, Holdings::default()),
            "{b}"
        );
        assert_eq!(
            s.holdings("Fetch").await.unwrap(),
            Holdings::default(),
            "{b}"
        );
        change(s, grant("Fetch", "https://a.example")).await;
        change(
            s,
            CapabilityChange::SetConfig {
                function: "Fetch".to_owned(),
                key: "k".to_owned(),
                value: "v".to_owned(),
            },
        )
        .await;
        change(
            s,
            CapabilityChange::SetSecret {
                function: "Fetch".to_owned(),
                name: "s".to_owned(),
                sealed: sealed("k1", 7),
            },
        )
        .await;
        let expected = Holdings {
            grants: vec!["https://a.example".to_owned()],
            config: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            secrets: BTreeMap::from([("s".to_owned(), sealed("k1", 7))]),
        };
        // Deployed but not active: no module.
        s.deploy(
            "d1",
            b"m".to_vec(),
            "1",
            vec![("Fetch".to_owned(), "activity".to_owned())],
            false,
            10,
        )
        .await
        .unwrap();
        assert_eq!(
            s.activity_setup("Fetch").await.unwrap(),
            (None, expected.clone()),
            "{b}"
        );
        s.activate("Fetch", "activity", "d1").await.unwrap();
        assert_eq!(
            s.activity_setup("Fetch").await.unwrap(),
            (Some("d1".to_owned()), expected.clone()),
            "{b}"
        );
        assert_eq!(s.holdings("Fetch").await.unwrap(), expected, "{b}");
        // Only activities: an active orchestrator of the same name is not its module.
        s.deploy(
            "d2",
            b"o".to_vec(),
            "1",
            vec![("Flow".to_owned(), "orchestrator".to_owned())],
            true,
            20,
        )
        .await
        .unwrap();
        assert_eq!(s.activity_setup("Flow").await.unwrap().0, None, "{b}");
    }
}

/// An attempt's setup follows every change another process makes, at the next read: the SQLite
/// backend keeps setups between attempts and must see when they go stale.
#[tokio::test]
async fn activity_setup_sees_every_change_another_process_makes() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        let other = t.reopen().await;
        let setup = || async { s.activity_setup("Fetch").await.unwrap() };
        assert_eq!(setup().await, (None, Holdings::default()), "{b}");
        let mut expected = Holdings::default();
        change(&other, grant("Fetch", "https://a.example")).await;
        expected.grants = vec!["https://a.example".to_owned()];
        assert_eq!(setup().await, (None, expected.clone()), "{b}: a grant");
        for value in ["v1", "v2"] {
            change(
                &other,
                CapabilityChange::SetConfig {
                    function: "Fetch".to_owned(),
                    key: "k".to_owned(),
                    value: value.to_owned(),
                },
            )
            .await;
            expected.config = BTreeMap::from([("k".to_owned(), value.to_owned())]);
            assert_eq!(
                setup().await,
                (None, expected.clone()),
                "{b}: config {value}"
            );
        }
        for byte in [1, 2] {
            change(
                &other,
                CapabilityChange::SetSecret {
                    function: "Fetch".to_owned(),
                    name: "s".to_owned(),
                    sealed: sealed("k1", byte),
                },
            )
            .await;
            expected.secrets = BTreeMap::from([("s".to_owned(), sealed("k1", byte))]);
            assert_eq!(
                setup().await,
                (None, expected.clone()),
                "{b}: secret {byte}"
            );
        }
        for (digest, at) in [("d1", 10), ("d2", 20)] {
            other
                .deploy(
                    digest,
                    digest.as_bytes().to_vec(),
                    "1",
                    vec![("Fetch".to_owned(), "activity".to_owned())],
                    true,
                    at,
                )
                .await
                .unwrap();
            assert_eq!(
                setup().await,
                (Some(digest.to_owned()), expected.clone()),
                "{b}: deployed {digest}"
            );
        }
        other.activate("Fetch", "activity", "d1").await.unwrap();
        assert_eq!(
            setup().await,
            (Some("d1".to_owned()), expected.clone()),
            "{b}: back to d1"
        );
        change(&other, revoke("Fetch", "https://a.example")).await;
        change(
            &other,
            CapabilityChange::UnsetConfig {
                function: "Fetch".to_owned(),
                key: "k".to_owned(),
            },
        )
        .await;
        change(
            &other,
            CapabilityChange::UnsetSecret {
                function: "Fetch".to_owned(),
                name: "s".to_owned(),
            },
        )
        .await;
        assert_eq!(
            setup().await,
            (Some("d1".to_owned()), Holdings::default()),
            "{b}: all withdrawn"
        );
        assert_eq!(
            s.holdings("Fetch").await.unwrap(),
            Holdings::default(),
            "{b}"
        );
    }
}

#[tokio::test]
async fn all_grants_are_ordered_by_function_then_pattern() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        assert!(s.all_grants().await.unwrap().is_empty(), "{b}");
        for (function, pattern) in [
            ("b", "https://z.example"),
            ("a", "https://y.example"),
            ("b", "https://a.example"),
            ("B", "https://x.example"),
            ("a", "*.example"),
        ] {
            change(s, grant(function, pattern)).await;
        }
        let grants = s.all_grants().await.unwrap();
        let grants: Vec<_> = grants
            .iter()
            .map(|(f, p)| (f.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            grants,
            [
                ("B", "https://x.example"),
                ("a", "*.example"),
                ("a", "https://y.example"),
                ("b", "https://a.example"),
                ("b", "https://z.example"),
            ],
            "{b}"
        );
    }
}

#[tokio::test]
async fn concurrent_replaces_leave_exactly_one_of_them() {
    for t in stores().await {
        let b = t.backend;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = t.store.clone();
            tasks.push(tokio::spawn(async move {
                let grants = (0..4).map(|g| format!("https://{i}-{g}.example")).collect();
                let config = (0..4)
                    .map(|k| (format!("key{k}"), format!("{i}")))
                    .chain([(format!("only{i}"), "x".to_owned())])
                    .collect();
                s.change_capability(
                    CapabilityChange::Replace {
                        function: "Fetch".to_owned(),
                        grants,
                        config,
                        secrets: BTreeMap::new(),
                    },
                    100,
                )
                .await
                .unwrap()
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap(), "{b}");
        }
        let held = t.store.holdings("Fetch").await.unwrap();
        // One replace's set, whole: grants and configuration all of the same one.
        assert_eq!(held.grants.len(), 4, "{b}: {held:?}");
        let i = held.config["key0"].clone();
        let expected: Vec<_> = (0..4).map(|g| format!("https://{i}-{g}.example")).collect();
        assert_eq!(held.grants, expected, "{b}");
        assert_eq!(held.config.len(), 5, "{b}: {held:?}");
        assert!(held.config.contains_key(&format!("only{i}")), "{b}");
        assert!(held.config.values().take(4).all(|v| *v == i), "{b}");
    }
}
