//! `saescope synth`: a complete bundle made from a planted sparse dictionary. It is the demo
//! until a corpus bundle is built, and the fixture of the browser tests: every document's true
//! atoms are known, so a page that lists the wrong features is visibly wrong.

use anyhow::Result;
use saescope_build::files::{progress, write_bundle};
use saescope_core::matrix::normalize;
use saescope_core::search::{Corpus, Precision, Storage};
use saescope_core::synth::PlantedData;
use saescope_format::bundle::{shard_rows, BundleBuilder, DEFAULT_BINDING_LIMIT};
use saescope_format::documents::Document;
use saescope_format::manifest::Role;
use saescope_format::npy;
use saescope_format::prelude::*;
use saescope_format::WeightDType;
use std::path::Path;

pub const MODEL: &str = "synthetic-planted";

pub fn write_synthetic(
    out: &Path,
    documents: usize,
    dim: usize,
    latents: usize,
    k: usize,
    seed: u64,
    rows_per_shard: Option<usize>,
) -> Result<()> {
    use saescope_core::limits::{check, MAX_DIM, MAX_LATENTS, MAX_SYNTH_DOCUMENTS, MAX_WEIGHTS};
    check("documents", documents, MAX_SYNTH_DOCUMENTS)?;
    check("dim", dim, MAX_DIM)?;
    check("latents", latents, MAX_LATENTS)?;
    check("SAE weights (dim x latents)", dim * latents, MAX_WEIGHTS)?;
    check("k", k, latents)?;
    let bar = progress(4, "synth");
    let mut data = PlantedData::generate(dim, latents, k, documents, seed);
    (0..documents).for_each(|r| normalize(data.embeddings.row_mut(r)));
    bar.inc(1);

    // Store embeddings as f16, and encode exactly what a reader of the bundle will see.
    let per_shard = rows_per_shard.unwrap_or_else(|| shard_rows(dim, 2, DEFAULT_BINDING_LIMIT));
    let corpus = Corpus::from_matrix(&data.embeddings, per_shard, Precision::F16);
    let codes = data.sae.encode(&corpus.to_matrix())?;
    bar.inc(1);

    let mut bundle = BundleBuilder::new(
        "synthetic",
        &format!("{documents} synthetic documents, each the sum of {k} of {latents} planted unit directions in {dim} dimensions (seed {seed}); the SAE is the planted dictionary itself, and the map places each document beside its strongest atom's anchor."),
        MODEL,
        &data.sae,
        documents,
    );
    let (cfg, weights) = data.sae.to_saelens(WeightDType::F32, Some(MODEL))?;
    bundle.add("sae/cfg.json", Role::SaeConfig, cfg);
    bundle.add("sae/sae_weights.safetensors", Role::SaeWeights, weights);
    for (i, shard) in corpus.shards.iter().enumerate() {
        let Storage::F16(values) = &shard.storage else { unreachable!("built as f16") };
        bundle.add(&format!("embeddings/{i:03}.npy"), Role::Embeddings, npy::to_bytes(&[shard.rows, dim], values)?);
    }
    let (idx, val) = codes.to_compact_npy()?;
    bundle.add("codes/indices.npy", Role::CodesIndices, idx);
    bundle.add("codes/values.npy", Role::CodesValues, val);
    let docs: Vec<Document> = (0..documents)
        .map(|r| {
            let atoms = data.atoms_of(r);
            let weights = &data.weights[r * k..(r + 1) * k];
            let parts: Vec<String> =
                atoms.iter().zip(weights).map(|(a, w)| format!("atom {a} (weight {w:.2})")).collect();
            Document {
                id: format!("synth-{r:06}"),
                // Every 1000th title carries markup, so the page's text-not-HTML rule is tested.
                title: if r % 1000 == 1 {
                    format!("Synthetic document {r} <b>markup is shown as text</b>")
                } else {
                    format!("Synthetic document {r}")
                },
                text: format!("A planted mixture of {}.", parts.join(", ")),
                categories: vec![format!("planted.atom-{}", atoms[0])],
                year: None,
            }
        })
        .collect();
    bundle.add_documents(&docs)?;
    // The map is planted too: each document beside its strongest atom's anchor.
    let layout = data.planted_layout(seed);
    bundle.add("layout.npy", Role::Layout, npy::to_bytes(&[layout.rows, 2], &layout.data)?);
    bar.inc(1);

    write_bundle(out, bundle)?;
    bar.finish_and_clear();
    eprintln!("wrote a synthetic bundle of {documents} documents to {}", out.display());
    Ok(())
}
