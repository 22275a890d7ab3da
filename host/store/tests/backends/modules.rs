//! Deploying modules, their labels and functions, and activating versions.

use crate::support::stores;

#[tokio::test]
async fn a_deployed_module_is_listed_with_its_functions_and_labels() {
    for t in stores().await {
        let s = &t.store;
        let functions = vec![("Hello".to_owned(), "orchestrator".to_owned())];
        s.deploy("d1", b"bytes".to_vec(), "1", functions.clone(), true, 10)
            .await
            .unwrap();
        s.deploy("d1", b"bytes".to_vec(), "1.1", functions, true, 20)
            .await
            .unwrap();
        let modules = s.modules().await.unwrap();
        assert_eq!(modules.len(), 1, "{}", t.backend);
        assert_eq!(modules[0].labels, ["1", "1.1"], "{}", t.backend);
        assert_eq!(modules[0].size, 5, "{}", t.backend);
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d1".to_owned()),
            "{}",
            t.backend
        );
        assert_eq!(s.module_labels("d1").await.unwrap(), ["1", "1.1"]);
        assert_eq!(s.module_bytes("d1").await.unwrap(), Some(b"bytes".to_vec()));
    }
}

fn functions(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(name, kind)| ((*name).to_owned(), (*kind).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_redeploy_adds_a_label_once_and_keeps_what_was_stored_first() {
    for t in stores().await {
        let s = &t.store;
        let f = functions(&[("Hello", "orchestrator")]);
        s.deploy("d1", b"bytes".to_vec(), "1", f.clone(), true, 10)
            .await
            .unwrap();
        // The same digest with other bytes, another function and labels old and new: the module's
        // bytes, first version and deploy time stay; only the new label and function are added.
        s.deploy("d1", b"other".to_vec(), "2", f.clone(), false, 20)
            .await
            .unwrap();
        s.deploy("d1", b"other".to_vec(), "1", f.clone(), false, 30)
            .await
            .unwrap();
        s.deploy(
            "d1",
            b"other".to_vec(),
            "3",
            functions(&[("Hello", "orchestrator"), ("Greet", "activity")]),
            false,
            40,
        )
        .await
        .unwrap();
        let b = t.backend;
        let modules = s.modules().await.unwrap();
        assert_eq!(modules.len(), 1, "{b}");
        let m = &modules[0];
        assert_eq!(m.digest, "d1", "{b}");
        assert_eq!(m.version, "1", "{b}");
        assert_eq!(m.deployed_at, 10, "{b}");
        assert_eq!(m.size, 5, "{b}");
        assert_eq!(m.labels, ["1", "2", "3"], "{b}");
        assert_eq!(
            m.functions,
            serde_json::json!([{"name": "Hello", "kind": "orchestrator"}]),
            "{b}"
        );
        assert_eq!(
            s.module_bytes("d1").await.unwrap(),
            Some(b"bytes".to_vec()),
            "{b}"
        );
        assert_eq!(s.module_labels("d1").await.unwrap(), ["1", "2", "3"], "{b}");
        assert_eq!(s.module_count().await.unwrap(), 1, "{b}");
        // Deploying never deactivates: Hello stays active, Greet (deployed without activating)
        // has no active version.
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d1".to_owned()),
            "{b}"
        );
        assert_eq!(
            s.active_function("Greet", "activity").await.unwrap(),
            None,
            "{b}"
        );
        let greet = s.function_versions("Greet", "activity").await.unwrap();
        assert_eq!(greet.len(), 1, "{b}");
        assert_eq!(greet[0].version, "3", "{b}");
        assert!(!greet[0].active, "{b}");
        assert_eq!(greet[0].labels, ["1", "2", "3"], "{b}");
    }
}

#[tokio::test]
async fn unknown_modules_have_no_bytes_labels_or_functions() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        assert_eq!(s.module_count().await.unwrap(), 0, "{b}");
        assert!(s.modules().await.unwrap().is_empty(), "{b}");
        assert!(s.functions().await.unwrap().is_empty(), "{b}");
        assert_eq!(s.module_bytes("nope").await.unwrap(), None, "{b}");
        assert!(s.module_labels("nope").await.unwrap().is_empty(), "{b}");
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            None,
            "{b}"
        );
        assert!(
            s.function_versions("Hello", "orchestrator")
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );
        assert!(
            !s.activate("Hello", "orchestrator", "nope").await.unwrap(),
            "{b}"
        );
        assert!(s.queued_activity_names().await.unwrap().is_empty(), "{b}");
        assert!(s.pinned_counts().await.unwrap().is_empty(), "{b}");
        assert_eq!(s.waiting_events("nobody").await.unwrap(), 0, "{b}");
    }
}

#[tokio::test]
async fn deploying_without_activating_leaves_the_active_version_and_activate_switches_it() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        let f = functions(&[("Hello", "orchestrator"), ("Greet", "activity")]);
        s.deploy("d1", b"one".to_vec(), "1", f.clone(), true, 10)
            .await
            .unwrap();
        s.deploy("d2", b"two!".to_vec(), "2", f.clone(), false, 20)
            .await
            .unwrap();
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d1".to_owned()),
            "{b}"
        );
        assert_eq!(s.module_count().await.unwrap(), 2, "{b}");
        let modules = s.modules().await.unwrap();
        let listed: Vec<_> = modules
            .iter()
            .map(|m| (m.digest.as_str(), m.size))
            .collect();
        assert_eq!(listed, [("d2", 4), ("d1", 3)], "newest first, {b}");

        // Newest first, with which one is active.
        let versions = s.function_versions("Hello", "orchestrator").await.unwrap();
        let seen: Vec<_> = versions
            .iter()
            .map(|v| (v.digest.as_str(), v.version.as_str(), v.active))
            .collect();
        assert_eq!(seen, [("d2", "2", false), ("d1", "1", true)], "{b}");

        // Activating d2 for one function switches only that function.
        assert!(
            s.activate("Hello", "orchestrator", "d2").await.unwrap(),
            "{b}"
        );
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d2".to_owned()),
            "{b}"
        );
        assert_eq!(
            s.active_function("Greet", "activity").await.unwrap(),
            Some("d1".to_owned()),
            "{b}"
        );
        let versions = s.function_versions("Hello", "orchestrator").await.unwrap();
        let active: Vec<_> = versions.iter().map(|v| v.active).collect();
        assert_eq!(active, [true, false], "{b}");

        // A module that does not provide the function, or a kind it does not have: refused, and the
        // active version stays.
        s.deploy(
            "d3",
            b"x".to_vec(),
            "3",
            functions(&[("Other", "activity")]),
            true,
            30,
        )
        .await
        .unwrap();
        assert!(
            !s.activate("Hello", "orchestrator", "d3").await.unwrap(),
            "{b}"
        );
        assert!(!s.activate("Hello", "activity", "d1").await.unwrap(), "{b}");
        assert!(
            !s.activate("Hello", "orchestrator", "nope").await.unwrap(),
            "{b}"
        );
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d2".to_owned()),
            "{b}"
        );
        // Activating the active version again is accepted and changes nothing.
        assert!(
            s.activate("Hello", "orchestrator", "d2").await.unwrap(),
            "{b}"
        );
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d2".to_owned()),
            "{b}"
        );
        // Back to d1.
        assert!(
            s.activate("Hello", "orchestrator", "d1").await.unwrap(),
            "{b}"
        );
        let versions = s.function_versions("Hello", "orchestrator").await.unwrap();
        let active: Vec<_> = versions.iter().map(|v| v.active).collect();
        assert_eq!(active, [false, true], "{b}");
        // Deploying with activate makes the new module active for each of its functions.
        s.deploy("d4", b"four".to_vec(), "4", f, true, 40)
            .await
            .unwrap();
        assert_eq!(
            s.active_function("Hello", "orchestrator").await.unwrap(),
            Some("d4".to_owned()),
            "{b}"
        );
        assert_eq!(
            s.active_function("Greet", "activity").await.unwrap(),
            Some("d4".to_owned()),
            "{b}"
        );
        let actives = s
            .functions()
            .await
            .unwrap()
            .into_iter()
            .filter(|f| f.active)
            .count();
        assert_eq!(actives, 3, "one active version per function, {b}");
    }
}

#[tokio::test]
async fn functions_are_listed_by_name_and_kind_then_newest_first() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.deploy(
            "d1",
            b"1".to_vec(),
            "1",
            functions(&[("b", "orchestrator"), ("a", "activity"), ("B", "activity")]),
            true,
            10,
        )
        .await
        .unwrap();
        s.deploy(
            "d2",
            b"2".to_vec(),
            "2",
            functions(&[("b", "orchestrator"), ("a", "orchestrator")]),
            false,
            20,
        )
        .await
        .unwrap();
        s.deploy("d2", b"2".to_vec(), "2.1", Vec::new(), false, 30)
            .await
            .unwrap();
        let listed: Vec<_> = s
            .functions()
            .await
            .unwrap()
            .into_iter()
            .map(|f| {
                (
                    f.name,
                    f.kind,
                    f.digest,
                    f.version,
                    f.labels.join(","),
                    f.active,
                )
            })
            .collect();
        let row = |n: &str, k: &str, d: &str, v: &str, l: &str, a: bool| {
            (
                n.to_owned(),
                k.to_owned(),
                d.to_owned(),
                v.to_owned(),
                l.to_owned(),
                a,
            )
        };
        assert_eq!(
            listed,
            [
                // Byte order: upper case before lower case.
                row("B", "activity", "d1", "1", "1", true),
                row("a", "activity", "d1", "1", "1", true),
                row("a", "orchestrator", "d2", "2", "2,2.1", false),
                row("b", "orchestrator", "d2", "2", "2,2.1", false),
                row("b", "orchestrator", "d1", "1", "1", true),
            ],
            "{b}"
        );
    }
}

#[tokio::test]
async fn concurrent_deploys_and_activations_leave_one_active_version_per_function() {
    for t in stores().await {
        let b = t.backend;
        let mut tasks = Vec::new();
        for i in 0..12_u64 {
            let s = t.store.clone();
            tasks.push(tokio::spawn(async move {
                let digest = format!("d{i}");
                // Functions in both orders: activations of modules that share them must not wait
                // for each other in a circle.
                let mut f = functions(&[("Flow", "orchestrator"), ("Work", "activity")]);
                if i % 2 == 1 {
                    f.reverse();
                }
                s.deploy(&digest, vec![1; 3], &digest, f, i % 3 != 0, i)
                    .await
                    .unwrap();
                if i % 3 == 0 {
                    assert!(s.activate("Work", "activity", &digest).await.unwrap());
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let s = &t.store;
        for (name, kind) in [("Flow", "orchestrator"), ("Work", "activity")] {
            let versions = s.function_versions(name, kind).await.unwrap();
            assert_eq!(versions.len(), 12, "{b}");
            let active: Vec<_> = versions.iter().filter(|v| v.active).collect();
            assert_eq!(active.len(), 1, "{name}: {active:?}, {b}");
            assert_eq!(
                s.active_function(name, kind).await.unwrap(),
                Some(active[0].digest.clone()),
                "{b}"
            );
        }
    }
}
