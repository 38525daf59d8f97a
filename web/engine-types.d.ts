// Generated from the Rust types by `cargo test -p saescope-wasm` (crates/wasm/src/lib.rs,
// mod typescript); do not edit. The values the engine hands the page, as serde writes them.

export type Info = { documents: number, d_in: number, d_sae: number, k: number, has_codes: boolean, };

export type SelfTestCase = { name: string, ok: boolean, report: string, };

export type Split = { d_sae: number, k: number, 
/**
 * For each main feature, the coarse feature it splits from...
 */
coarse_of: Array<number>, 
/**
 * ... and the cosine of their decoder directions.
 */
cosine: Array<number>, };

export type CoFiringResult = { documents: number, with: Array<CoFiring>, };

export type LayoutStep = { stage: string, done: number, total: number, };

export type Manifest = { format: string, version: number, name: string, description: string, documents: number, embedding: EmbeddingInfo, sae: SaeInfo, 
/**
 * The query embedder the bundle carries (its files have the `embedder-*` roles), if any.
 */
embedder?: EmbedderInfo | null, 
/**
 * Smaller SAEs trained on the same embeddings, each with the feature-splitting map from its
 * features onto the main SAE's (arXiv 2408.00657, section on feature splitting).
 */
coarse_saes?: Array<CoarseSaeInfo>, 
/**
 * How the documents' texts are split (files of role `document-texts`, in document order);
 * absent when `documents.jsonl.gz` carries the texts itself (version 1 bundles).
 */
texts?: TextShards | null, files: Array<FileEntry>, };

export type FileEntry = { path: string, role: Role, bytes: number, sha256: string, };

export type Role = "sae-config" | "sae-weights" | "embeddings" | "embeddings-scale" | "documents" | "document-texts" | "codes-indices" | "codes-values" | "features" | "training-log" | "embedder-weights" | "embedder-tokenizer" | "embedder-config" | "labels" | "families" | "coarse-sae-config" | "coarse-sae-weights" | "feature-split" | "layout" | "label-embeddings" | "other";

export type EmbeddingInfo = { 
/**
 * The model that made the document embeddings; queries must use the same one.
 */
model: string, dim: number, };

export type EmbedderInfo = { model: string, dim: number, };

export type SaeInfo = { d_in: number, d_sae: number, k: number, };

export type CoarseSaeInfo = { d_sae: number, k: number, config: string, weights: string, split: string, };

export type TextShards = { documents_per_shard: number, };

export type Document = { id: string, title: string, abstract: string, categories: Array<string>, 
/**
 * The year it appeared: given in the file, or read from an arXiv id (see [`arxiv_year`]).
 */
year?: number | null, };

export type FeaturesFile = { metrics: Metrics, 
/**
 * One entry per feature, by feature index.
 */
features: Array<FeatureStats>, };

export type Metrics = { documents: number, normalized_mse: number, 
/**
 * Mean number of active latents per document.
 */
l0: number, dead_fraction: number, density_histogram: DensityHistogram, 
/**
 * All active (non-zero) activations.
 */
activation_histogram: Histogram, };

export type FeatureStats = { feature: number, density: number, max_activation: number, 
/**
 * Activation histogram over `[0, max_activation]` of the documents where it is active.
 */
histogram: Array<number>, 
/**
 * The documents with the highest activation: (document, activation), strongest first.
 */
top_documents: Array<[number, number]>, };

export type Histogram = { bin_edges: Array<number>, counts: Array<number>, };

export type DensityHistogram = { bin_edges: Array<number>, counts: Array<number>, 
/**
 * Latents never active (log10 density undefined), counted apart.
 */
dead: number, };

export type Catalog = { documents: Array<Document>, features: FeaturesFile | null, 
/**
 * By feature index.
 */
labels: Array<FeatureLabel>, families: FamiliesFile | null, 
/**
 * Files that were left out, and why.
 */
problems: Array<string>, };

export type FeatureLabel = { index: number, label: string, reasoning: string, f1: number | null, pearson_correlation: number | null, auroc: number | null, density: number | null, 
/**
 * The scored phrases, best first: (phrase, log-odds z-score).
 */
phrases: Array<[string, number]>, 
/**
 * The label's detail: the phrases after its head (the label reads "head (detail, ...)").
 */
supporting?: Array<string>, 
/**
 * Passes the clean-feature filter ([`mark_clean`]).
 */
clean: boolean, scores?: ScoreDetail | null, };

export type ScoreDetail = { 
/**
 * The predictor behind the top-level `f1`, `pearson_correlation` and `auroc`: the
 * embedding predictor when label embeddings were given, else the keyphrase one.
 */
predictor: Predictor, keyphrase: Scores, embedding: Scores | null, heldout_top: number, heldout_random: number, };

export type Scores = { f1: number, 
/**
 * Pearson r of prediction vs activation (0 where either is constant on the held-out set).
 */
pearson_correlation: number, auroc: number, 
/**
 * Predict "active" at or above this value (chosen on the calibration documents).
 */
threshold: number, };

export type Predictor = "keyphrase" | "embedding";

export type FamiliesFile = { params: FamilyParams, families: Array<Family>, stats: FamilyStats, 
/**
 * Absent from files written before it was measured.
 */
coherence?: Coherence | null, };

export type Family = { id: number, parent: number, label: string, 
/**
 * Every descendant of the parent in the oriented tree, densest first.
 */
children: Array<number>, round: number, parent_family: number | null, };

export type FamilyParams = { 
/**
 * The algorithm (absent from files written before there were two: `readable`).
 */
method: FamilyMethod, first_threshold: number, later_threshold: number, 
/**
 * Rounds after the first, each on the candidates minus all roots found so far.
 */
repeats: number, 
/**
 * A root needs at least this many children (the paper's "> 2").
 */
root_min_children: number, 
/**
 * A family needs at least this many members (the paper's "> 3").
 */
min_members: number, 
/**
 * Families whose members overlap by more than this Jaccard index are merged.
 */
merge_jaccard: number, nodes: NodeSet, 
/**
 * Candidates must fire on fewer than this fraction of documents (the paper's clean filter).
 */
max_density: number, 
/**
 * How `P` is made symmetric for the spanning tree (see the module documentation).
 */
symmetrise: string, 
/**
 * Seed of the random-permutation control of the block-diagonal ratio.
 */
seed: number, };

export type NodeSet = "live" | "clean";

export type FamilyMethod = "readable" | "paper";

export type FamilyStats = { 
/**
 * Members of each family, by id.
 */
sizes: Array<number>, 
/**
 * Mean over families of (mean parent-child co-occurrence) / (mean child-child
 * co-occurrence), co-occurrence normalised as `C[i, j] / min(C[i, i], C[j, j])`, the
 * diagonal left out; families whose children never co-occur are skipped.
 */
cooccurrence_ratio: number | null, 
/**
 * Fraction of the normalised co-occurrence mass among candidate features (off-diagonal)
 * that lies inside family blocks (each feature in the block of the first family holding
 * it; features in no family are blocks of one).
 */
block_diagonal_ratio: number | null, 
/**
 * The same for the same block sizes over randomly permuted features (mean of 20).
 */
block_diagonal_ratio_random: number | null, 
/**
 * Fraction of the candidate features that belong to some family.
 */
membership_fraction: number, candidates: number, live: number, families_per_round: Array<number>, };

export type Coherence = { 
/**
 * Cosine of the members' decoder directions.
 */
decoder_cosine: number, decoder_cosine_random: number, 
/**
 * Normalised co-occurrence `C[i, j] / min(C[i, i], C[j, j])`.
 */
cooccurrence: number, cooccurrence_random: number, };

export type SteeredSearch = { 
/**
 * The query's own code (before the edits), strongest first.
 */
features: Array<Feature>, 
/**
 * The edits applied, families expanded: `(feature, activation)`.
 */
edits: Array<[number, number]>, 
/**
 * Cosine between the steered query and the query.
 */
cosine: number, hits: Array<Hit>, };

export type Feature = { feature: number, activation: number, };

export type Hit = { doc: number, score: number, 
/**
 * Which of the boosted features fire in this document (steered search only).
 */
fires: Array<number>, };

export type NamedClusters = { clusters: Array<ClusterSummary>, 
/**
 * The inertia after the last iteration.
 */
inertia: number, iterations: number, 
/**
 * Documents that took part (all, except along features that some never fire).
 */
clustered: number, 
/**
 * Each document's cluster, or [`NOT_CLUSTERED`] (to colour the map by).
 */
assignments: Array<number>, };

export type ClusterSummary = { size: number, 
/**
 * The features whose firing rate most exceeds the rest's (dataset diffing of the cluster
 * against the other clusters), most over-represented first: the cluster's name.
 */
features: Array<Overrepresented>, 
/**
 * Members that fire the top feature most strongly (or the first members, if none does).
 */
examples: Array<number>, };

export type Overrepresented = { feature: number, 
/**
 * Firing rate inside the cluster.
 */
rate: number, 
/**
 * Firing rate in the other clustered documents.
 */
rest_rate: number, };

export type Neighbors = { 
/**
 * Most similar decoder directions, most similar first (the feature itself excluded).
 */
nearest: Array<Neighbor>, 
/**
 * Most opposite decoder directions, most opposite first.
 */
farthest: Array<Neighbor>, };

export type Neighbor = { feature: number, cosine: number, };

export type CoFiring = { feature: number, 
/**
 * Documents where both fire.
 */
together: number, 
/**
 * `together / documents where `feature` fires`: how often it comes along.
 */
share: number, };

export type Enrichment = { selected: number, rest: number, 
/**
 * Features tested (those that fire in at least one document).
 */
tested: number, 
/**
 * The over-represented features (log-odds > 0), by lower confidence bound, highest first.
 */
features: Array<EnrichedFeature>, };

export type Explanation = { 
/**
 * The `k` of this explanation (the SAE was trained with `trained_k`).
 */
k: number, trained_k: number, 
/**
 * The embedding `x` as given (`d_in` values).
 */
embedding: Array<number>, 
/**
 * All `d_sae` pre-activations, largest first (the curve the cut is drawn on).
 */
sorted_pre_activations: Array<number>, 
/**
 * The k-th largest pre-activation: the cut. Latents below it are set to 0.
 */
threshold: number, 
/**
 * How many pre-activations are positive (ReLU alone would keep these).
 */
positive: number, 
/**
 * The kept features with a positive activation, largest activation first.
 */
kept: Array<KeptFeature>, 
/**
 * Kept by top-k but zeroed by ReLU (their pre-activation was <= 0).
 */
zeroed_by_relu: number, 
/**
 * `x̂` (`d_in` values).
 */
reconstruction: Array<number>, 
/**
 * `(b_dec · x) / (‖x‖ ‖x̂‖)`: the decoder bias's term of the cosine.
 */
bias_cosine_share: number, 
/**
 * `cos(x, x̂)`.
 */
cosine: number, 
/**
 * `‖x̂ - x‖² / ‖x‖²`: the share of the embedding's energy the code misses.
 */
relative_error: number, };

export type KeptFeature = { feature: number, 
/**
 * `z_j`, after ReLU (> 0).
 */
activation: number, 
/**
 * `z_j ‖d_j‖`: how far this feature moves the reconstruction.
 */
magnitude: number, 
/**
 * `z_j (d_j · x) / (‖x‖ ‖x̂‖)`: this feature's term of the cosine between text and
 * reconstruction.
 */
cosine_share: number, };

export type EnrichedFeature = { feature: number, 
/**
 * Selected documents it fires in, and other documents it fires in.
 */
inside: number, outside: number, rate_inside: number, rate_outside: number, 
/**
 * `ln` of the odds ratio of firing inside vs outside, with 0.5 added to each cell of the
 * 2x2 table (Haldane's correction: finite when a cell is 0).
 */
log_odds: number, 
/**
 * The lower end of its 95% confidence interval (Woolf's standard error).
 */
lower: number, 
/**
 * Benjamini-Hochberg adjusted p-value of the one-sided test that it fires more inside,
 * over every feature that fires in the corpus.
 */
q_value: number, 
/**
 * `q_value < 0.05`: over-represented with the false discovery rate held at 5%.
 */
significant: boolean, };

export type CorpusSummary = { name: string, documents: number, 
/**
 * Records in the file, skipped ones included.
 */
records: number, skipped: number, 
/**
 * The first skipped records, with why.
 */
skipped_examples: Array<Skipped>, 
/**
 * The first documents, as read.
 */
preview: Array<Document>, };

export type Skipped = { 
/**
 * 1-based record number (see [`read`] for what a record is).
 */
record: number, 
/**
 * 1-based line of the file where the record starts.
 */
line: number, reason: string, };

export type TrainSettings = { k: number, latents: number, epochs: number, lr: number, batch: number, engine: TrainEngine, };

export type TrainEngine = "gpu" | "cpu";

export type TrainingPlan = { train_rows: number, validation_rows: number, steps_per_epoch: number, total_steps: number, };

export type StepPoint = { step: number, epoch: number, nmse: number, aux_loss: number, dead_fraction: number, l0: number, };

export type TrainingProgress = { steps: Array<StepPoint>, 
/**
 * Epochs that ended in these steps.
 */
epochs: Array<EpochLog>, steps_done: number, total_steps: number, done: boolean, };

export type TrainingResult = { validation_nmse: number, epochs: number, steps: number, };

export type EpochLog = { epoch: number, train_loss: number, train_nmse: number, aux_loss: number, l0: number, dead_fraction: number, val_nmse: number, 
/**
 * The epoch's steps and the state's read-back (validation not included), by the caller's
 * clock.
 */
seconds: number, };

