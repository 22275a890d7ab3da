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
