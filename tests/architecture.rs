//! The crate boundaries are the architecture: the core takes no AWS SDK and no Kubernetes client,
//! and the AWS adapters no Kubernetes client, as cargo resolves them (not as their sources say).

use std::collections::BTreeSet;
use std::process::Command;

/// Every crate `package` depends on for its build (not its tests), by name.
fn dependencies_of(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(["-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

fn offending<'a>(deps: &'a BTreeSet<String>, forbidden: &[&str]) -> Vec<&'a String> {
    deps.iter()
        .filter(|d| forbidden.iter().any(|f| d.starts_with(f)))
        .collect()
}

#[test]
fn the_core_depends_on_types_only() {
    let deps = dependencies_of("cognito-sms-core");
    assert!(deps.contains("k8s-openapi"), "{deps:?}");
    let io = offending(
        &deps,
        &[
            "aws-",
            "kube-client",
            "kube-runtime",
            "tokio",
            "hyper",
            "reqwest",
            "cognito-sms-aws",
        ],
    );
    assert!(io.is_empty(), "the core crate reaches I/O through {io:?}");
}

#[test]
fn the_aws_adapters_know_no_kubernetes_client() {
    let deps = dependencies_of("cognito-sms-aws");
    assert!(deps.contains("cognito-sms-core"), "{deps:?}");
    let kube = offending(&deps, &["kube-client", "kube-runtime"]);
    assert!(kube.is_empty(), "the AWS adapters depend on {kube:?}");
}
