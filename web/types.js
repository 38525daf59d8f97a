// @ts-check
// The shapes of what the engine hands the page, for TypeScript's checker (tsconfig.json at the
// repository root; nothing is built). Types only: no page module imports this file at run time.
//
// The data types are generated from the Rust types into web/engine-types.d.ts (crates/wasm,
// `mod typescript`; a native test fails when they drift) and re-exported here under the names
// the page uses; wasm-bindgen declares the API's functions in pkg/saescope_wasm.d.ts. What is
// written by hand below is the page's own: the worker protocol and the requests' arguments.

// ---- Bundle files, as the engine parsed them (saescope_interp::catalog) ----

/** @typedef {import('./engine-types').Document} Document */

/** @typedef {import('./engine-types').Histogram} Histogram */

/** @typedef {import('./engine-types').DensityHistogram} DensityHistogram */

/** @typedef {import('./engine-types').Metrics} Metrics */

/** @typedef {import('./engine-types').FeatureStats} FeatureStats */

/** @typedef {import('./engine-types').FeaturesFile} FeaturesFile */

/** @typedef {import('./engine-types').Scores} Scores */

/** @typedef {import('./engine-types').ScoreDetail} ScoreDetail */

/** @typedef {import('./engine-types').FeatureLabel} FeatureLabel */

/** @typedef {import('./engine-types').Family} Family */

/** @typedef {import('./engine-types').FamilyParams} FamilyParams */

/** @typedef {import('./engine-types').FamilyStats} FamilyStats */
/** @typedef {import('./engine-types').Coherence} Coherence */

/** @typedef {import('./engine-types').FamiliesFile} FamiliesFile */

/** @typedef {import('./engine-types').Catalog} CatalogData */

// ---- The manifest (crates/format/src/manifest.rs) ----

/** @typedef {import('./engine-types').Role} Role */

/** @typedef {import('./engine-types').FileEntry} FileEntry */

/** @typedef {import('./engine-types').CoarseSaeInfo} CoarseSaeInfo */

/** @typedef {import('./engine-types').Manifest} Manifest */

// ---- What the engine's methods answer (crates/wasm/src/lib.rs) ----

/** @typedef {import('./engine-types').Info} Info */

/** @typedef {import('./engine-types').Split} Split */

/** @typedef {import('./engine-types').Feature} Feature */

/** @typedef {import('./engine-types').Hit} Hit */

/** @typedef {import('./engine-types').SteeredSearch & { ms: number }} SteeredSearch */

/** @typedef {import('./engine-types').Neighbor} Neighbor */

/** @typedef {import('./engine-types').Neighbors} Neighbors */

/** @typedef {import('./engine-types').CoFiringResult} CoFiringResult */

/** @typedef {import('./engine-types').Overrepresented} Overrepresented */

/** @typedef {import('./engine-types').ClusterSummary} ClusterSummary */

/** @typedef {import('./engine-types').NamedClusters & { ms: number }} NamedClusters */

/** @typedef {import('./engine-types').SelfTestCase} SelfTestCase */

// ---- The map (crates/interp/src/selection.rs) ----

/** @typedef {import('./engine-types').EnrichedFeature} EnrichedFeature */

/** @typedef {import('./engine-types').Enrichment} Enrichment */

/** @typedef {import('./engine-types').Explanation} Explanation */

/** @typedef {import('./engine-types').KeptFeature} KeptFeature */

// ---- The workshop (crates/wasm/src/workshop.rs) ----

/** @typedef {import('./engine-types').CorpusSummary} CorpusSummary */

/** @typedef {import('./engine-types').TrainSettings} TrainSettings */

/** @typedef {import('./engine-types').TrainingPlan} TrainingPlan */

/** @typedef {import('./engine-types').TrainingProgress} TrainingProgress */

/** @typedef {import('./engine-types').TrainingResult} TrainingResult */

/** @typedef {import('./engine-types').StepPoint} StepPoint */

/**
 * The query embedder the workshop embeds with: where its files are (for the embedding pool).
 * @typedef {{ base: string, manifest: Uint8Array, entries: FileEntry[], dim: number }} WorkshopModel
 */

/**
 * A bundle the workshop built and saved: its name, files and bytes, and how long building and
 * saving took.
 * @typedef {{ name: string, files: number, bytes: number, model: string, queries: boolean, builtMs: number, savedMs: number }} WorkshopBuilt
 */

/**
 * A saved bundle's files.
 * @typedef {{ manifest: Uint8Array, paths: string[], contents: Uint8Array[] }} BundleFiles
 */

/**
 * The bundle's 2D layout (N x 2 interleaved), or why there is none.
 * @typedef {{ xy: Float32Array | null, problem: string | null }} Layout
 */

// ---- The page <-> worker protocol (web/engine.js, web/worker.js) ----

/**
 * A progress message of a long request (bundle and embedder downloads; laying out the map).
 * @typedef {{ type: 'start', files: { path: string, bytes: number }[] }
 *   | { type: 'bytes', path: string, bytes: number }
 *   | { type: 'done', path: string, cached?: boolean, error?: string }
 *   | { type: 'finishing' }
 *   | { type: 'layout', stage: string, done: number, total: number }} Progress
 */

/**
 * What `open` answers: the loaded bundle.
 * @typedef {object} OpenedBundle
 * @property {Manifest} manifest
 * @property {Info} info
 * @property {Split[]} splits
 * @property {CatalogData} catalog
 * @property {string | null} embedderProblem why free-text queries cannot be embedded, or null
 * @property {boolean} offline opened from the copy kept in this browser (its server did not answer)
 * @property {string | null} storage why some files were not kept for offline use (storage full), or null
 */

/**
 * What this site keeps in the browser (see web/fetch.js `storageReport`).
 * @typedef {{ usage: number | null, quota: number | null, bundles: { base: string, bytes: number, files: number }[] }} StorageReport
 */

/**
 * What runs the engine's math: `kind` now ("cpu" also after the GPU device was lost), `describe`
 * in words (and why the CPU), `lost` why the GPU device was lost, or null, `softwareSkipped`
 * whether the CPU computes because the only WebGPU here is emulated on the CPU.
 * @typedef {{ kind: 'gpu' | 'cpu', describe: string, lost: string | null, softwareSkipped: boolean }} EngineStatus
 */

/**
 * Every request the worker answers: its arguments and its result.
 * @typedef {object} EngineMethods
 * @property {{ args: { device: string }, result: EngineStatus }} init
 * @property {{ args: { url: string }, result: OpenedBundle }} open
 * @property {{ args: {}, result: { storage: string | null } }} loadEmbedder
 * @property {{ args: { text: string }, result: { vector: Float32Array, ms: number } }} embed
 * @property {{ args: { doc: number }, result: Float32Array }} documentVector
 * @property {{ args: { shard: number }, result: { texts: string[] } }} documentTexts
 * @property {{ args: SteerArgs, result: SteeredSearch }} steeredSearch
 * @property {{ args: { features: number[], strength: number }, result: [number, number][] }} steeringActivations
 * @property {{ args: { feature: number, n: number }, result: Neighbors }} decoderNeighbors
 * @property {{ args: { feature: number, n: number }, result: CoFiringResult }} coFiring
 * @property {{ args: { feature: number, docs: number[] }, result: Float32Array }} activationsIn
 * @property {{ args: ClusterArgs, result: NamedClusters }} cluster
 * @property {{ args: {}, result: Layout }} layout
 * @property {{ args: { seed: number }, result: { xy: Float32Array, ms: number } }} computeLayout
 * @property {{ args: { feature: number }, result: Float32Array }} featureActivations
 * @property {{ args: { family: number }, result: Float32Array }} familyActivations
 * @property {{ args: { polygon: number[] }, result: { docs: Uint32Array, ms: number } }} selectPolygon
 * @property {{ args: { docs: Uint32Array, n: number }, result: Enrichment & { ms: number } }} enrich
 * @property {{ args: { vector: Float32Array, k: number }, result: Explanation }} explain
 * @property {{ args: { doc: number, n: number }, result: Feature[] }} documentFeatures
 * @property {{ args: { name: string, size: number }, result: void }} workshopCheck
 * @property {{ args: { name: string, bytes: Uint8Array }, result: CorpusSummary }} workshopRead
 * @property {{ args: {}, result: string[] }} workshopTexts
 * @property {{ args: { data: Float32Array, dim: number }, result: void }} workshopSetEmbeddings
 * @property {{ args: { name: string, bytes: Uint8Array }, result: number[] }} workshopImportEmbeddings
 * @property {{ args: { cfg?: Uint8Array, weights?: Uint8Array, pth?: Uint8Array, k?: number }, result: number[] }} workshopImportSae
 * @property {{ args: { url: string }, result: WorkshopModel }} workshopModel
 * @property {{ args: {}, result: TrainSettings }} workshopDefaults
 * @property {{ args: { settings: TrainSettings }, result: TrainingPlan }} workshopBegin
 * @property {{ args: { maxSteps: number, budgetMs: number }, result: TrainingProgress }} workshopTrain
 * @property {{ args: {}, result: TrainingResult }} workshopFinishTraining
 * @property {{ args: { name: string }, result: WorkshopBuilt }} workshopBuild
 * @property {{ args: {}, result: boolean }} bundleChanged
 * @property {{ args: {}, result: StorageReport }} storageReport
 * @property {{ args: { base: string }, result: number }} storageForget
 * @property {{ args: {}, result: string[] }} savedList
 * @property {{ args: { name: string }, result: void }} savedDelete
 * @property {{ args: { name: string }, result: Uint8Array }} savedZip
 * @property {{ args: { name: string }, result: BundleFiles }} savedFiles
 * @property {{ args: {}, result: SelfTestCase[] }} selfTest
 * @property {{ args: {}, result: void }} panicForTest
 * @property {{ args: { submissions: number }, result: void }} loseDeviceForTest
 */

/** @typedef {keyof EngineMethods} EngineMethod */

/**
 * A steered search's request: features set to values, families at strengths, in `mode`.
 * @typedef {object} SteerArgs
 * @property {Float32Array} vector the query
 * @property {number[]} features
 * @property {number[]} values
 * @property {number[]} families
 * @property {number[]} strengths
 * @property {'concept' | 'keep-error' | 'rebuild'} mode
 * @property {number} k
 */

/**
 * A clustering request.
 * @typedef {object} ClusterArgs
 * @property {'codes' | 'embeddings'} space
 * @property {number} clusters
 * @property {number[]} features cluster along these features only (codes); empty for all
 * @property {number} iterations
 * @property {number} seed
 */

/**
 * A request to the worker.
 * @typedef {{ id: number, method: EngineMethod, args?: object }} WorkerRequest
 */

/**
 * A message from the worker: a progress report, the result, or the error (`fatal` when the wasm
 * module trapped: it cannot be called again, and the page replaces the worker). An answer carries
 * the engine's status when it changed (the GPU device was lost: the CPU computes since).
 * @typedef {{ id: number, progress: Progress }
 *   | { id: number, result: unknown, engine?: EngineStatus }
 *   | { id: number, error: string, fatal?: boolean, engine?: EngineStatus }} WorkerReply
 */

export {};
