//! Serves one simulated cluster over HTTP and writes its kubeconfig to the given path.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "kubeconfig.sim".into());
    let cluster = kubefed_sim::Cluster::new("sim");
    cluster
        .write_kubeconfig(std::path::Path::new(&path))
        .await?;
    println!(
        "serving {} (kubeconfig: {path})",
        cluster.https_url().unwrap_or_default()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
