//! `kube-standin [--port N] [--kubeconfig PATH] CRD_FILE...`: serve the Kubernetes API stand-in
//! until interrupted, for the demo and for poking at it with kubectl.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut kubeconfig, mut crds) = (0u16, None::<PathBuf>, vec![]);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--kubeconfig" => kubeconfig = args.next().map(PathBuf::from),
            _ => crds.push(PathBuf::from(a)),
        }
    }
    let standin = testkit::StandIn::start_on(([127, 0, 0, 1], port).into(), &crds).await?;
    if let Some(path) = &kubeconfig {
        std::fs::copy(&standin.kubeconfig, path)?;
    }
    println!("listening on {}", standin.url());
    let kubeconfig = kubeconfig.unwrap_or(standin.kubeconfig.clone());
    println!("kubeconfig {}", kubeconfig.display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
