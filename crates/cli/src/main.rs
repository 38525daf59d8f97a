//! `saescope`: the native command line. Every subcommand takes `--device cpu|gpu`, shows
//! progress on long work, and on bad input exits non-zero with a one-line reason.

use saescope_core::train::TrainConfig;
use saescope_interp::analysis::DiffOrder;
use saescope_interp::steer::SteerMode;

mod commands;
mod convert;
mod embed_cmd;
mod eval_cmd;
mod interpret;
mod io;
mod map_cmd;
mod steer_cmd;
mod synth_bundle;
mod train_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "saescope",
    version,
    about = "Sparse autoencoders on text embeddings: build bundles, encode, search, cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `saescope build --storage`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum EmbeddingStorage {
    F16,
    I8,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Gpu,
}

/// The SAE training settings shared by `train` and `build` (the paper's recipe by default).
#[derive(clap::Args)]
struct TrainingArgs {
    #[arg(long, default_value_t = TrainConfig::default().k)]
    k: usize,
    #[arg(long, default_value_t = TrainConfig::default().latents)]
    latents: usize,
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    batch: usize,
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    lr: f32,
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Fraction of rows held out for validation
    #[arg(long, default_value_t = 0.05)]
    holdout: f64,
    /// Where training runs: every step (forward, backward, Adam) on the CPU reference or the GPU
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
}

impl TrainingArgs {
    fn config(&self) -> TrainConfig {
        let (k, latents, epochs, batch, lr, seed) = (self.k, self.latents, self.epochs, self.batch, self.lr, self.seed);
        TrainConfig { k, latents, epochs, batch, lr, seed, ..Default::default() }
    }
}

/// A bundle and one query in it: text, a vector or a document (`steer`, `explain`).
#[derive(clap::Args)]
struct QueryArgs {
    #[arg(long)]
    bundle: PathBuf,
    /// Free text, embedded with the bundle's query embedder
    #[arg(long, conflicts_with_all = ["vector", "doc"], required_unless_present_any = ["vector", "doc"])]
    query: Option<String>,
    /// A .npy file holding one query embedding
    #[arg(long, conflicts_with = "doc")]
    vector: Option<PathBuf>,
    /// A document of the bundle ("more like this")
    #[arg(long)]
    doc: Option<u32>,
}

impl QueryArgs {
    fn into_parts(self) -> (PathBuf, steer_cmd::Query) {
        (self.bundle, steer_cmd::Query::from_args(self.query, self.vector, self.doc))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Top-k encode embeddings with an SAE; writes indices.npy and values.npy ([N, k]).
    Encode {
        /// SAE directory (SAELens layout: cfg.json + sae_weights.safetensors)
        #[arg(long)]
        sae: PathBuf,
        /// Embeddings, [N, d_in] float32 or float16 .npy
        #[arg(long)]
        embeddings: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// Exact top-k search by dot product; writes indices.npy and scores.npy ([Q, k]).
    Search {
        /// Corpus embeddings .npy (repeat for several shards, in document order)
        #[arg(long, required = true)]
        corpus: Vec<PathBuf>,
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// k-means (k-means++ start, Lloyd iterations); writes assignments.npy, centroids.npy and
    /// inertia.json.
    Kmeans {
        #[arg(long)]
        embeddings: PathBuf,
        #[arg(long)]
        clusters: usize,
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Cosine (spherical) k-means instead of Euclidean
        #[arg(long)]
        spherical: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// Normalised MSE, L0, dead fraction and density histogram of an SAE on embeddings (JSON).
    Metrics {
        #[arg(long)]
        sae: PathBuf,
        #[arg(long)]
        embeddings: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// Verify every file of a bundle against its manifest and print a summary (JSON).
    Inspect {
        /// Bundle directory (holding manifest.json)
        bundle: PathBuf,
    },
    /// Write a bundle of planted synthetic data (a known sparse dictionary and documents made
    /// from it): the self-contained demo and test bundle.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 4000)]
        documents: usize,
        #[arg(long, default_value_t = 384)]
        dim: usize,
        #[arg(long, default_value_t = 1024)]
        latents: usize,
        #[arg(long, default_value_t = 8)]
        k: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Rows per embedding shard (default: as many as fit WebGPU's 128 MiB binding minimum)
        #[arg(long)]
        shard_rows: Option<usize>,
    },
    /// Embed a corpus into an .npy (f32 [N, 384]), or one query (printed as JSON), with
    /// all-MiniLM-L6-v2.
    Embed {
        /// Corpus: JSON Lines or CSV, plain or gzip
        #[arg(long, conflicts_with = "query")]
        corpus: Option<PathBuf>,
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "title+abstract")]
        text: embed_cmd::TextField,
        /// Model folder (model.safetensors, tokenizer.json, config.json)
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Build a bundle from a corpus: embeddings, SAE training, codes, feature statistics.
    Build {
        /// Corpus: JSON Lines (id, title, abstract, categories; or arXiv's metadata snapshot) or
        /// CSV with a header; plain or gzip
        #[arg(long)]
        corpus: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Precomputed embeddings, one row per corpus record
        #[arg(long)]
        embeddings: Option<PathBuf>,
        /// The bundle's name (default: the corpus file name)
        #[arg(long)]
        name: Option<String>,
        /// The embedding model the embeddings come from
        #[arg(long, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
        model: String,
        /// The query embedder the bundle carries, so the browser can embed free-text queries
        /// (model.safetensors, tokenizer.json, config.json; default: the one `cargo xtask setup`
        /// fetches). Only bundled when --model is the model it implements.
        #[arg(long)]
        embedder: Option<PathBuf>,
        /// Also train SAEs with these fewer latents (same k and recipe) and bundle them with the
        /// map of how the main SAE's features split from theirs, e.g. `--coarse-latents 768`
        #[arg(long, value_delimiter = ',')]
        coarse_latents: Vec<usize>,
        /// How the bundle stores the document embeddings: f16 (768 bytes per document at 384-d),
        /// or i8 (int8 with a scale and an offset per dimension: 384 bytes; search is exact over
        /// the stored values, recall@10 against f32 in BENCHMARKS.md)
        #[arg(long, value_enum, default_value = "f16")]
        storage: EmbeddingStorage,
        #[command(flatten)]
        training: TrainingArgs,
        #[command(flatten)]
        clean: interpret::CleanArgs,
        #[command(flatten)]
        family: interpret::FamilyArgs,
    },
    /// Train a top-k SAE on embeddings with the paper's recipe (NMSE + AuxK, unit-norm decoder,
    /// Adam); writes the SAELens layout and training_log.json.
    Train {
        /// Embeddings, [N, d] float32 or float16 .npy
        #[arg(long)]
        embeddings: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        training: TrainingArgs,
    },
    /// Convert the paper's PyTorch state dict (a torch.save .pth holding encoder.weight,
    /// decoder.weight, pre_bias and latent_bias) into an SAE directory in the SAELens layout;
    /// prints the decoder norms (JSON).
    Convert {
        /// The state dict, as written by torch.save(model.state_dict(), path)
        #[arg(long)]
        pth: PathBuf,
        /// Output directory (cfg.json + sae_weights.safetensors)
        #[arg(long)]
        out: PathBuf,
        /// The SAE's top-k (the state dict does not record it)
        #[arg(long)]
        k: usize,
        /// How to store the weights
        #[arg(long, value_enum, default_value = "f32")]
        dtype: convert::OutDType,
    },
    /// Label every live feature of a bundle by contrastive keyphrases and score the labels on
    /// held-out documents (JSON list); or import the paper's labels file (--import).
    Label {
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// The paper's labels JSON ({index, label, reasoning, f1, pearson_correlation, density})
        #[arg(long)]
        import: Option<PathBuf>,
        /// Output file (default: print)
        #[arg(long)]
        out: Option<PathBuf>,
        /// Model folder for embedding the labels (default: .cache/models/all-MiniLM-L6-v2)
        #[arg(long)]
        model: Option<PathBuf>,
        /// Score labels by keyphrase matches only (do not embed them)
        #[arg(long)]
        no_embed: bool,
        /// Seed of the held-out split
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        clean: interpret::CleanArgs,
    },
    /// Feature families from co-occurrence (the paper's algorithm), labelled, with their
    /// statistics (JSON); or the statistics of the paper's family file (--import).
    Families {
        #[arg(long)]
        bundle: PathBuf,
        /// Labels file (default: the bundle's labels.json)
        #[arg(long)]
        labels: Option<PathBuf>,
        /// The paper's family JSON ({parent label: {"parent": [label, index], "children": [...]}})
        #[arg(long)]
        import: Option<PathBuf>,
        /// Output file (default: print)
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the families in the paper's format
        #[arg(long)]
        paper_out: Option<PathBuf>,
        #[command(flatten)]
        family: interpret::FamilyArgs,
        /// Candidates must fire on fewer than this fraction of documents
        #[arg(long, default_value_t = 0.2)]
        max_density: f64,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// Feature splitting: each feature of a larger SAE mapped to the most similar decoder
    /// direction of a smaller one; writes the paper's {small_id: [large ids]} JSON.
    Split {
        #[arg(long)]
        small: PathBuf,
        #[arg(long)]
        large: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Dataset diffing: features whose firing rate differs between two document sets
    /// (category=PREFIX, ids=FILE, or rest for --b).
    Diff {
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long)]
        a: String,
        #[arg(long, default_value = "rest")]
        b: String,
        /// Keep features whose rates differ by at least this much
        #[arg(long, default_value_t = 0.01)]
        min_difference: f64,
        /// absolute (largest difference of firing rates first) or relative (largest ratio, either way)
        #[arg(long, default_value = "absolute", value_parser = |s: &str| DiffOrder::parse(s).map_err(|e| e.to_string()))]
        order: DiffOrder,
        #[arg(long, default_value_t = 50)]
        top: usize,
    },
    /// Concept correlations: NPMI of binarised features, among chosen features or the top pairs.
    Npmi {
        #[arg(long)]
        bundle: PathBuf,
        /// Features to correlate pairwise (comma-separated); default: the top pairs overall
        #[arg(long, value_delimiter = ',')]
        features: Vec<u32>,
        #[arg(long, default_value_t = 50)]
        top: usize,
        /// Top pairs must fire together in at least this many documents
        #[arg(long, default_value_t = 5)]
        min_count: u32,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// Property retrieval: documents ranked by weighted activations of chosen features.
    Retrieve {
        #[arg(long)]
        bundle: PathBuf,
        /// FEATURE or FEATURE:WEIGHT (repeat)
        #[arg(long = "feature", required = true, value_parser = interpret::parse_weight)]
        features: Vec<(u32, f32)>,
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// The bundle's 2D map: lays the documents out (UMAP, k = 15, cosine) and writes
    /// layout.npy into the bundle, or imports a [documents, 2] .npy made elsewhere (--from).
    Layout {
        #[arg(long)]
        bundle: PathBuf,
        /// A [documents, 2] f32/f16 .npy to use instead of computing one (checked: rows, NaN)
        #[arg(long)]
        from: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// The page's lasso: the documents inside a polygon of the map and the features most
    /// over-represented in them (log-odds, lower bound, Benjamini-Hochberg q).
    Select {
        #[arg(long)]
        bundle: PathBuf,
        /// Corners in map units, X,Y;X,Y;... (the page's URL `sel=` value)
        #[arg(long, allow_hyphen_values = true)]
        polygon: String,
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Print the documents and the enrichment as JSON (what the page receives)
        #[arg(long)]
        json: bool,
    },
    /// Steered search, as the page does it: the top documents for a query (text, vector or
    /// document) after setting feature activations and family strengths.
    Steer {
        #[command(flatten)]
        on: QueryArgs,
        /// FEATURE:ACTIVATION (0 removes the feature from the query's code); repeatable
        #[arg(long = "edit", value_parser = steer_cmd::parse_pair)]
        edits: Vec<(u32, f32)>,
        /// FAMILY:STRENGTH (1 = as strong as the whole query); repeatable
        #[arg(long = "family", value_parser = steer_cmd::parse_pair)]
        families: Vec<(u32, f32)>,
        /// concept (move each feature toward its label and documents), keep-error (along its
        /// decoder row, keeping the query's reconstruction error) or rebuild (from the code only)
        #[arg(long, default_value = "concept", value_parser = |s: &str| SteerMode::parse(s).map_err(|e| e.to_string()))]
        mode: SteerMode,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// Print the result as JSON (what the page receives)
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
    /// Evaluations of the interpretation layer against baselines
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// How the SAE reads one query (text, vector or document): its pre-activations, the top-k
    /// cut, the kept features and their shares of the reconstruction (the page's explainer).
    Explain {
        #[command(flatten)]
        on: QueryArgs,
        /// Latents to keep (default: the k the SAE was trained with)
        #[arg(long)]
        k: Option<usize>,
        /// Print every number as JSON (what the page receives)
        #[arg(long)]
        json: bool,
    },
    /// Clustering along chosen features: k-means on their activations only.
    Cluster {
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long, value_delimiter = ',', required = true)]
        features: Vec<u32>,
        #[arg(long, default_value_t = 5)]
        clusters: usize,
        #[arg(long, default_value_t = 20)]
        iters: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output file (default: print)
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "cpu")]
        device: Device,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// The paper's steering evaluation: per query, a clean feature steered up and one steered
    /// down among 3 distractors, judged on the top 10 documents, at a sweep of cosines to the
    /// query, against rewriting the query with the up feature's label
    Steering {
        #[arg(long)]
        bundle: PathBuf,
        /// Queries, one per line (e.g. eval/queries/heldout.txt)
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, value_enum, default_value = "both")]
        judge: eval_cmd::JudgeChoice,
        /// Write the accuracy-vs-cosine chart here
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Write every point and trial here as JSON
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encode { sae, embeddings, out, device } => commands::encode(&sae, &embeddings, &out, device),
        Command::Search { corpus, queries, k, out, device } => commands::search(&corpus, &queries, k, &out, device),
        Command::Kmeans { embeddings, clusters, iters, spherical, seed, out, device } => {
            commands::kmeans(&embeddings, clusters, iters, spherical, seed, &out, device)
        }
        Command::Metrics { sae, embeddings, device } => commands::metrics(&sae, &embeddings, device),
        Command::Inspect { bundle } => commands::inspect(&bundle),
        Command::Synth { out, documents, dim, latents, k, seed, shard_rows } => {
            synth_bundle::write_synthetic(&out, documents, dim, latents, k, seed, shard_rows)
        }
        Command::Embed { corpus, query, out, text, model } => embed_cmd::run(
            corpus.as_deref(),
            query.as_deref(),
            out.as_deref(),
            text,
            &model.unwrap_or_else(saescope_build::embed::default_model_dir),
        ),
        Command::Build {
            corpus,
            out,
            embeddings,
            name,
            model,
            embedder,
            coarse_latents,
            storage,
            training,
            clean,
            family,
        } => {
            let (train, holdout, device) = (training.config(), training.holdout, training.device);
            let embedder = embedder.unwrap_or_else(saescope_build::embed::default_model_dir);
            let max_density = clean.filter().max_density;
            let backend = io::backend(device);
            backend.and_then(|backend| {
                saescope_build::pipeline::run(
                    saescope_build::pipeline::BuildArgs {
                        corpus,
                        out,
                        embeddings,
                        name,
                        model,
                        embedder,
                        storage: match storage {
                            EmbeddingStorage::F16 => saescope_core::search::Precision::F16,
                            EmbeddingStorage::I8 => saescope_core::search::Precision::I8,
                        },
                        coarse_latents,
                        train,
                        holdout,
                        clean: clean.filter(),
                        family: family.params(max_density),
                    },
                    &backend,
                )
            })
        }
        Command::Train { embeddings, out, training } => {
            train_cmd::run(&embeddings, &out, training.config(), training.holdout, training.device)
        }
        Command::Convert { pth, out, k, dtype } => convert::run(&pth, &out, k, dtype),
        Command::Label { bundle, import, out, model, no_embed, seed, clean } => {
            interpret::label(interpret::LabelCommand { bundle, import, out, model, no_embed, seed, clean })
        }
        Command::Families { bundle, labels, import, out, paper_out, family, max_density, device } => {
            interpret::families(interpret::FamiliesCommand {
                bundle,
                labels,
                import,
                out,
                paper_out,
                family,
                max_density,
                device,
            })
        }
        Command::Split { small, large, out } => interpret::split(&small, &large, out.as_deref()),
        Command::Diff { bundle, a, b, min_difference, order, top } => {
            interpret::diff(&bundle, &a, &b, min_difference, order, top)
        }
        Command::Npmi { bundle, features, top, min_count, device } => {
            interpret::npmi(&bundle, &features, top, min_count, device)
        }
        Command::Retrieve { bundle, features, top } => interpret::retrieve(&bundle, &features, top),
        Command::Layout { bundle, from, seed } => map_cmd::layout(&bundle, from.as_deref(), seed),
        Command::Select { bundle, polygon, top, json } => map_cmd::parse_polygon(&polygon)
            .map_err(anyhow::Error::msg)
            .and_then(|polygon| map_cmd::select(&bundle, &polygon, top, json)),
        Command::Steer { on, edits, families, mode, k, json, device } => {
            let (bundle, query) = on.into_parts();
            steer_cmd::run(steer_cmd::SteerArgs { bundle, query, edits, families, mode, k, json, device })
        }
        Command::Eval { what: EvalCommand::Steering { bundle, queries, judge, svg, json, seed } } => {
            eval_cmd::steering(eval_cmd::SteeringArgs { bundle, queries, judge, svg, json, seed })
        }
        Command::Explain { on, k, json } => {
            let (bundle, query) = on.into_parts();
            steer_cmd::explain_query(&bundle, query, k, json)
        }
        Command::Cluster { bundle, features, clusters, iters, seed, out, device } => {
            interpret::cluster(&bundle, &features, clusters, iters, seed, out.as_deref(), device)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if saescope_build::files::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
