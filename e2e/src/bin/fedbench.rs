//! `fedbench`: propagation latency, throughput, steady-state writes, memory, cold start and
//! failover of the operator against a simulated fleet, next to a bare-client lower bound.
//! See e2e/BENCHMARKS.md.

use clap::Parser;
use kubefed_e2e::bench::options::Options;
use kubefed_e2e::bench::process::{CountingAlloc, count_thread_as_server, peak_rss_bytes};
use kubefed_e2e::bench::report::Run;
use kubefed_e2e::bench::scenario;
use kubefed_sim::transport::listener::serve_on;

/// Counts live heap bytes for the simulator's storage figure.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The simulated API servers run on threads of their own, as they would in processes of
    // their own: what they hold for the operator's connections is then counted apart from
    // the operator's memory, and their work does not queue behind the operator's tasks.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sim-server")
        .on_thread_start(count_thread_as_server)
        .enable_all()
        .build()?;
    serve_on(servers.handle().clone());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Operator logs on demand: RUST_LOG=kubefed=info fedbench …
    // (Silent otherwise: transient errors while fleets start and stop are expected.)
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let command: Vec<String> = std::env::args().collect();
    let plan = Options::parse().plan();
    if plan.pull {
        for &members in &plan.member_counts {
            eprintln!("fedbench: pull vs push, {members} members …");
            let results = kubefed_e2e::bench::pull::compare(&plan, members).await?;
            print!("{}", kubefed_e2e::bench::pull::table(&results));
        }
        return Ok(());
    }
    if plan.failover {
        println!("fedbench failover (commit {})", commit());
        for &members in &plan.member_counts {
            eprintln!(
                "fedbench: failover, {members} members, {} objects …",
                plan.objects
            );
            let result = kubefed_e2e::bench::failover::run(&plan, members).await?;
            print!("{}", result.table());
        }
        return Ok(());
    }
    let mut run = Run {
        date: jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        commit: commit(),
        command,
        plan: plan.clone(),
        fleets: Vec::new(),
        peak_rss_bytes: 0,
    };
    for &members in &plan.member_counts {
        eprintln!("fedbench: {members} members, {} objects …", plan.objects);
        let result = scenario::run(&plan, members).await?;
        eprintln!("{}", result.table());
        run.fleets.push(result);
    }
    run.peak_rss_bytes = peak_rss_bytes();
    print!("{}", run.table());
    let path = run.save(plan.output.as_deref())?;
    println!("results: {}", path.display());
    Ok(())
}

/// The commit measured, when run from a git checkout.
fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
