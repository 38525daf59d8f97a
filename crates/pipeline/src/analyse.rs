//! What a build computes once the SAE exists: every document's codes and the SAE's metrics,
//! labels with their scores, co-occurrence families and the 2D map. Each reports [`Progress`];
//! the math is in `saescope-core` and `saescope-interp`.

use anyhow::Result;
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::metrics::{Metrics, MetricsAccumulator};
use saescope_core::search::Corpus;
use saescope_core::{EncodeOps, Matrix, Sae, SparseCodes};
use saescope_format::corpus::embedding_text;
use saescope_format::documents::Document;
use saescope_interp::families::{self, FamiliesFile, FamilyParams};
use saescope_interp::labels::{self, CleanFilter, FeatureLabel, LabelConfig, LabelEmbeddings, Labeller};
use saescope_interp::steer::cosine;
use std::sync::Arc;

/// How far a stage is: `done` of `total` units of `stage` (its name, for a bar or a line).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Progress {
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

/// Rows encoded per step: bounds memory and paces progress.
pub const CHUNK_ROWS: usize = 4096;

/// Encodes row chunks from `next` (until it yields `None`) with the SAE on `backend`, calling
/// `each` with every chunk's input, codes and reconstruction (when `decode` is set). The one
/// encode loop of `saescope encode`, `metrics`, `build` and the workshop.
pub async fn encode_chunks<B: EncodeOps>(
    backend: &B,
    sae: &Arc<Sae>,
    mut next: impl FnMut() -> Result<Option<Matrix>>,
    decode: bool,
    mut each: impl FnMut(&Matrix, SparseCodes, Option<Matrix>),
) -> Result<()> {
    let dev = backend.upload_sae(sae).await?;
    while let Some(x) = next()? {
        let codes = backend.encode(&dev, &x).await?;
        let recon = if decode { Some(backend.decode(&dev, &codes).await?) } else { None };
        each(&x, codes, recon);
    }
    Ok(())
}

/// Every row of `x` encoded, and the SAE's metrics on them.
pub async fn encode_all<B: EncodeOps>(
    backend: &B,
    sae: &Arc<Sae>,
    x: &Matrix,
    progress: &mut dyn FnMut(Progress),
) -> Result<(SparseCodes, Metrics)> {
    let mut codes = SparseCodes::empty(sae.k, sae.d_sae);
    let mut metrics = MetricsAccumulator::new(sae.d_in, sae.d_sae);
    let mut starts = (0..x.rows).step_by(CHUNK_ROWS);
    let next = || Ok(starts.next().map(|start| x.slice_rows(start, (start + CHUNK_ROWS).min(x.rows))));
    encode_chunks(backend, sae, next, true, |chunk, c, recon| {
        metrics.add(chunk, recon.as_ref().expect("decoded"), &c);
        codes.extend(c);
        progress(Progress { stage: "encode", done: codes.rows(), total: x.rows });
    })
    .await?;
    Ok((codes, metrics.finish()?))
}

/// Embeds texts in the documents' space (all-MiniLM-L6-v2, where the platform has it).
pub type EmbedTexts<'a> = &'a mut dyn FnMut(&[String]) -> Result<Matrix>;

/// Documents re-embedded to check imported embeddings, and the lowest cosine to their imported
/// rows that counts as the same model: float noise and another runtime's kernels stay far above
/// it (the page's embedder is at >= 0.9999 to sentence-transformers), another model's space far
/// below.
pub const SAME_MODEL_SAMPLE: usize = 8;
pub const SAME_MODEL_MIN_COSINE: f32 = 0.99;

/// Whether `embeddings` (imported, so of any model) are the model behind `embed`: only then may
/// queries and label scores embedded with it be mixed into their space.
pub fn is_same_model(embed: EmbedTexts, docs: &[Document], embeddings: &Matrix) -> Result<bool> {
    Ok(model_agreement(embed, docs, embeddings, SAME_MODEL_SAMPLE)? >= SAME_MODEL_MIN_COSINE)
}

/// How closely `embeddings` agree with the model behind `embed`: the lowest cosine between a
/// document's row and its text embedded again, over at most `sample` evenly spaced documents.
/// Embeddings made elsewhere can be any model's; queries and label scores must not be mixed
/// into a space they were not made in, so an import is trusted only when this is near 1.
pub fn model_agreement(embed: EmbedTexts, docs: &[Document], embeddings: &Matrix, sample: usize) -> Result<f32> {
    anyhow::ensure!(embeddings.rows == docs.len(), "{} embeddings for {} documents", embeddings.rows, docs.len());
    let picked: Vec<usize> = (0..sample.min(docs.len())).map(|i| i * docs.len() / sample.min(docs.len())).collect();
    let texts: Vec<String> = picked.iter().map(|&i| embedding_text(&docs[i])).collect();
    let again = embed(&texts)?;
    if again.cols != embeddings.cols {
        return Ok(0.0);
    }
    Ok(picked.iter().enumerate().map(|(j, &i)| cosine(again.row(j), embeddings.row(i))).fold(f32::INFINITY, f32::min))
}

/// Labels and scores every live feature. With `embed`, labels are embedded and the embedding
/// predictor is scored too (and is the headline score); without, keyphrase matches only.
pub fn compute_labels(
    docs: &[Document],
    codes: &SparseCodes,
    corpus: &Corpus,
    embed: Option<EmbedTexts>,
    config: LabelConfig,
    clean: &CleanFilter,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<FeatureLabel>> {
    let texts: Vec<String> = docs.iter().map(embedding_text).collect();
    let mut indexed = 0;
    let labeller = Labeller::new(texts.iter().map(String::as_str), codes, config, || {
        indexed += 1;
        if indexed % 256 == 0 || indexed == texts.len() {
            progress(Progress { stage: "index phrases", done: indexed, total: texts.len() });
        }
    })?;
    let mut drafted = 0;
    let mut drafts = labeller.draft_all(|| {
        drafted += 1;
        if drafted % 64 == 0 || drafted == codes.d_sae {
            progress(Progress { stage: "label", done: drafted, total: codes.d_sae });
        }
    });
    let mut labels = match embed {
        Some(embed) => {
            let candidates = labeller.candidate_phrases(&drafts);
            let phrases: Vec<String> = candidates.iter().map(|&p| labeller.index.phrases[p as usize].clone()).collect();
            let embedded = embed_all(&mut *embed, &phrases, corpus.dim, "embed phrases", progress)?;
            labeller.choose_by_embedding(&mut drafts, &candidates, &embedded, corpus)?;
            let texts: Vec<String> = drafts.iter().map(|d| d.label.clone()).collect();
            let embedded = embed_all(embed, &texts, corpus.dim, "embed labels", progress)?;
            labeller.score(&drafts, Some(LabelEmbeddings { labels: &embedded, documents: corpus }))?
        }
        None => labeller.score(&drafts, None)?,
    };
    labels::mark_clean(&mut labels, clean);
    Ok(labels)
}

/// Each feature's label embedded (`[d_sae, dim]`; a zero row for a feature without a label):
/// what concept steering moves a query toward.
pub fn label_embeddings(
    labels: &[FeatureLabel],
    d_sae: usize,
    dim: usize,
    embed: EmbedTexts,
    progress: &mut dyn FnMut(Progress),
) -> Result<Matrix> {
    let labelled: Vec<&FeatureLabel> = labels::labels_by_feature(labels, d_sae).into_iter().flatten().collect();
    let texts: Vec<String> = labelled.iter().map(|l| l.label.clone()).collect();
    let embedded = embed_all(embed, &texts, dim, "embed labels for steering", progress)?;
    let mut out = Matrix::zeros(d_sae, dim);
    for (i, l) in labelled.iter().enumerate() {
        out.row_mut(l.index as usize).copy_from_slice(embedded.row(i));
    }
    Ok(out)
}

/// `texts` embedded in chunks of 64, with progress.
fn embed_all(
    embed: EmbedTexts,
    texts: &[String],
    dim: usize,
    stage: &'static str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Matrix> {
    let mut data = Vec::with_capacity(texts.len() * dim);
    for (i, chunk) in texts.chunks(64).enumerate() {
        data.extend(embed(chunk)?.data);
        progress(Progress { stage, done: (i * 64 + chunk.len()), total: texts.len() });
    }
    Ok(Matrix::new(texts.len(), dim, data)?)
}

/// Families from a co-occurrence: nodes, the repeated search, labels, statistics and coherence
/// (with `sae`'s decoder).
pub fn compute_families(
    cooc: &Cooccurrence,
    labels: &[FeatureLabel],
    sae: &Sae,
    params: FamilyParams,
    progress: &mut dyn FnMut(Progress),
) -> Result<FamiliesFile> {
    let params = params.for_labels(labels);
    let nodes = families::family_nodes(cooc, labels, &params);
    let total = params.repeats + 1;
    let mut done = 0;
    let mut found = families::find_families(cooc, &nodes, &params, |_| {
        done += 1;
        progress(Progress { stage: "families", done, total });
    })?;
    families::label_families(&mut found, labels, sae.d_sae);
    let stats = families::family_stats(cooc, &nodes, &found, params.seed);
    let coherence = families::family_coherence(&sae.w_dec, sae.d_in, cooc, &nodes, &found, params.seed);
    Ok(FamiliesFile { params, families: found, stats, coherence })
}

/// The documents' 2D map (UMAP, `saescope_core::layout`).
pub fn compute_layout(points: &Matrix, seed: u64, progress: &mut dyn FnMut(Progress)) -> Result<Matrix> {
    let params = saescope_core::layout::UmapParams { seed, ..Default::default() };
    Ok(saescope_core::layout::umap(points, &params, &mut |p| {
        progress(Progress { stage: p.stage, done: p.done, total: p.total })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;
    use saescope_core::CpuBackend;

    #[test]
    fn encode_all_covers_every_row_in_chunks_and_reports_it() {
        let planted = PlantedData::generate(8, 32, 2, CHUNK_ROWS + 5, 1);
        let sae = Arc::new(planted.sae.clone());
        let mut seen = Vec::new();
        let (codes, metrics) =
            pollster::block_on(encode_all(&CpuBackend, &sae, &planted.embeddings, &mut |p| seen.push(p.done))).unwrap();
        assert_eq!(codes.rows(), CHUNK_ROWS + 5);
        assert_eq!(seen, vec![CHUNK_ROWS, CHUNK_ROWS + 5]);
        assert_eq!(codes, sae.encode(&planted.embeddings).unwrap());
        assert!(metrics.l0 <= 2.0 && metrics.normalized_mse.is_finite(), "{metrics:?}");
    }

    #[test]
    fn model_agreement_tells_the_models_own_rows_from_another_models() {
        let docs: Vec<Document> = (0..10)
            .map(|i| Document {
                id: i.to_string(),
                title: format!("doc {i}"),
                text: "words".into(),
                categories: vec![],
                year: None,
            })
            .collect();
        // A stand-in model: each text is a one-hot vector at its byte sum (distinct here).
        let mut model = |texts: &[String]| -> Result<Matrix> {
            let mut data = vec![0.0f32; texts.len() * 12];
            for (i, t) in texts.iter().enumerate() {
                data[i * 12 + t.bytes().map(usize::from).sum::<usize>() % 12] = 1.0;
            }
            Ok(Matrix::new(texts.len(), 12, data)?)
        };
        let own = model(&docs.iter().map(embedding_text).collect::<Vec<_>>()).unwrap();
        assert!(model_agreement(&mut model, &docs, &own, 4).unwrap() > 0.9999);
        // Each document given its neighbour's row, as a misaligned import would.
        let mut other = own.clone();
        other.data.rotate_left(12);
        assert!(model_agreement(&mut model, &docs, &other, 4).unwrap() < 0.5);
        assert!(is_same_model(&mut model, &docs, &own).unwrap());
        assert!(!is_same_model(&mut model, &docs, &other).unwrap());
        let narrow = Matrix::new(10, 3, vec![1.0; 30]).unwrap();
        assert_eq!(model_agreement(&mut model, &docs, &narrow, 4).unwrap(), 0.0);
    }
}
