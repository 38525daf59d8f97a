//! `saescope-bench`: the benchmark harness (`cargo xtask bench` runs it), kept out of the user
//! binary. Times saescope's hot paths on inputs it also writes as `.npy` for the peers.

mod bench;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Time saescope's hot paths (encode, search, k-means, training; CPU and GPU) and the 2D map
/// layout on inputs it writes as .npy for the peers to time too; writes ours.json (`cargo xtask
/// bench` adds numpy, faiss, scikit-learn, networkx and umap-learn and writes BENCHMARKS.md).
#[derive(Parser)]
#[command(name = "saescope-bench", version)]
struct Args {
    /// Smaller inputs and one run each, to check the harness
    #[arg(long)]
    quick: bool,
    /// Real corpus embeddings, [N >= 2048, 384] .npy (e.g. the demo's MiniLM vectors)
    #[arg(long)]
    embeddings: PathBuf,
    /// Folder for the shared inputs and ours.json
    #[arg(long, default_value = "target/bench-data")]
    out: PathBuf,
    /// A bundle for the co-occurrence and families case (its codes)
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// The MiniLM model folder, for the query-embedding case
    #[arg(long)]
    embedder: Option<PathBuf>,
    /// Run only these cases: `layout` (the 2D map, UMAP) or `selection` (the map's lasso and
    /// enrichment at 200k documents), neither on the GPU, or `search` (exact search at each
    /// storage, CPU and GPU paths)
    #[arg(long, value_parser = ["layout", "selection", "search"])]
    only: Option<String>,
}

fn main() -> ExitCode {
    let Args { quick, embeddings, out, bundle, embedder, only } = Args::parse();
    let only = only.map(|o| match o.as_str() {
        "layout" => bench::Only::Layout,
        "selection" => bench::Only::Selection,
        _ => bench::Only::Search,
    });
    match bench::run(&bench::BenchArgs { quick, out, embeddings, bundle, embedder, only }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
