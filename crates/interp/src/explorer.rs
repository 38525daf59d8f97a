//! A loaded corpus, ready to explore on any backend: what the page's search, steering and
//! clustering views run, and what `saescope steer` runs, so both give the same answer.
//!
//! Steering strength has a unit: 1 = as strong as the whole query. Queries are unit vectors
//! whose norm an SAE shares among k features, so a document's own activations (about 0.25 on
//! the demo) barely move a query: adding a feature at 0.25 brought none of its documents into
//! the top 20, at 1 twelve of them. So features steered together at `strength` get norm
//! `strength`, each in proportion to its typical strong activation (the mean over its top
//! documents, from `features.json`).

use crate::analysis;
use crate::catalog::Catalog;
use crate::explore::{self, ClusterSummary};
use crate::steer::{
    apply_edits, concept_direction, cosine, documents_direction, mean_unit_embedding, rows_to_codes, steered_query,
    top_documents, unit, SteerMode, DIRECTION_DOCUMENTS,
};
use saescope_core::backend::{ClusterOps, EncodeOps, SearchOps};
use saescope_core::error::{Error, Result};
use saescope_core::fit::kmeans;
use saescope_core::kmeans::{KMeansConfig, Metric, Points};
use saescope_core::sae::check_features;
use saescope_core::search::Corpus;
use saescope_core::{Matrix, Sae, SparseCodes};
use serde::Serialize;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// One active feature of a code.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Feature {
    pub feature: u32,
    pub activation: f32,
}

/// One search result.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    pub doc: u32,
    pub score: f32,
    /// Which of the boosted features fire in this document (steered search only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fires: Vec<u32>,
}

/// What to steer: explicit activations of features, and families at a strength (in the
/// query's unit). Explicit edits win over a family's share of the same feature.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Steering {
    /// `(feature, activation)`: 0 removes a feature from the query's code.
    pub edits: Vec<(u32, f32)>,
    /// `(family id, strength)`: every member of the family, see [`Explorer::steering_activations`].
    pub families: Vec<(usize, f32)>,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct SteeredSearch {
    /// The query's own code (before the edits), strongest first.
    pub features: Vec<Feature>,
    /// The edits applied, families expanded: `(feature, activation)`.
    pub edits: Vec<(u32, f32)>,
    /// Cosine between the steered query and the query.
    pub cosine: f32,
    pub hits: Vec<Hit>,
}

/// Where k-means runs.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterSpace {
    /// The embeddings, cosine (spherical) k-means.
    Embeddings,
    /// The sparse codes, Euclidean.
    Codes,
    /// The codes restricted to these features (documents firing none of them are left out).
    Along(Vec<u32>),
}

impl ClusterSpace {
    /// From the page's and the CLI's words: "embeddings", "codes", or "codes" with features.
    pub fn parse(space: &str, features: Vec<u32>) -> Result<Self> {
        match (space, features.is_empty()) {
            ("codes", true) => Ok(ClusterSpace::Codes),
            ("codes", false) => Ok(ClusterSpace::Along(features)),
            ("embeddings", true) => Ok(ClusterSpace::Embeddings),
            ("embeddings", false) => {
                Err(Error::Invalid("clustering along chosen features works on the SAE codes".into()))
            }
            (other, _) => {
                Err(Error::Invalid(format!("unknown clustering space {other:?} (use \"codes\" or \"embeddings\")")))
            }
        }
    }
}

/// Clusters named by their over-represented features.
#[derive(ts_rs::TS, Clone, Debug, Serialize)]
pub struct NamedClusters {
    pub clusters: Vec<ClusterSummary>,
    /// The inertia after the last iteration.
    pub inertia: f64,
    pub iterations: usize,
    /// Documents that took part (all, except along features that some never fire).
    pub clustered: usize,
    /// Each document's cluster, or [`NOT_CLUSTERED`] (to colour the map by).
    pub assignments: Vec<u32>,
}

/// The cluster of a document left out of a clustering.
pub const NOT_CLUSTERED: u32 = u32::MAX;

/// The SAE and corpus resident on a backend, with the codes and what steering needs.
pub struct Explorer<B: EncodeOps + SearchOps> {
    backend: Rc<B>,
    resident_sae: B::Sae,
    resident_corpus: B::Corpus,
    sae: Arc<Sae>,
    corpus: Arc<Corpus>,
    codes: Option<SparseCodes>,
    /// Per feature, its typical strong activation (the steering unit); 1 where unknown.
    strong: Vec<f32>,
    /// Per family id, its members (parent first).
    families: Vec<Vec<u32>>,
    /// Each feature's embedded label (`[d_sae, d_in]`), for concept steering.
    label_embeddings: Option<Matrix>,
    /// The mean unit document embedding, and each steered feature's documents direction
    /// (computed when first steered).
    corpus_mean: OnceCell<Vec<f32>>,
    documents_directions: RefCell<HashMap<u32, Vec<f32>>>,
}

impl<B: EncodeOps + SearchOps> Explorer<B> {
    /// Uploads the SAE and corpus. `strong` is each feature's typical strong activation
    /// (empty: 1 for all), `families` each family's members by family id.
    pub async fn new(
        backend: Rc<B>,
        sae: Sae,
        corpus: Corpus,
        codes: Option<SparseCodes>,
        strong: Vec<f32>,
        families: Vec<Vec<u32>>,
    ) -> Result<Self> {
        if corpus.dim != sae.d_in {
            return Err(Error::Shape(format!("the corpus has dimension {}, the SAE reads {}", corpus.dim, sae.d_in)));
        }
        if let Some(c) = &codes {
            if c.rows() != corpus.rows() || c.d_sae != sae.d_sae {
                return Err(Error::Shape(format!(
                    "codes are {} rows of {} latents; the corpus has {} rows, the SAE {} latents",
                    c.rows(),
                    c.d_sae,
                    corpus.rows(),
                    sae.d_sae
                )));
            }
        }
        let strong = if strong.is_empty() { vec![1.0; sae.d_sae] } else { strong };
        if strong.len() != sae.d_sae {
            return Err(Error::Shape(format!("{} steering units for {} features", strong.len(), sae.d_sae)));
        }
        let (sae, corpus) = (Arc::new(sae), Arc::new(corpus));
        let resident_sae = backend.upload_sae(&sae).await?;
        let resident_corpus = backend.upload_corpus(&corpus).await?;
        Ok(Self {
            backend,
            resident_sae,
            resident_corpus,
            sae,
            corpus,
            codes,
            strong,
            families,
            label_embeddings: None,
            corpus_mean: OnceCell::new(),
            documents_directions: RefCell::new(HashMap::new()),
        })
    }

    /// Sets the embedded labels concept steering moves toward (`[d_sae, d_in]`); without them
    /// it moves toward the documents alone.
    pub fn with_label_embeddings(mut self, label_embeddings: Option<Matrix>) -> Result<Self> {
        if let Some(m) = &label_embeddings {
            if (m.rows, m.cols) != (self.sae.d_sae, self.sae.d_in) {
                return Err(Error::Shape(format!(
                    "label embeddings are {} x {}; the SAE has {} features of dimension {}",
                    m.rows, m.cols, self.sae.d_sae, self.sae.d_in
                )));
            }
        }
        self.label_embeddings = label_embeddings;
        Ok(self)
    }

    /// Where concept steering moves the unit query `q` for `feature`
    /// ([`crate::steer::concept_direction`]). A bundle without codes has no top documents: its
    /// decoder row stands in for their direction.
    pub fn concept_direction(&self, q: &[f32], feature: u32) -> Result<Vec<f32>> {
        check_features([feature], self.sae.d_sae)?;
        let mut cache = self.documents_directions.borrow_mut();
        let documents = cache.entry(feature).or_insert_with(|| match &self.codes {
            Some(codes) => {
                let mean = self.corpus_mean.get_or_init(|| mean_unit_embedding(&self.corpus, 0..self.corpus.rows()));
                documents_direction(&self.corpus, &top_documents(codes, feature, DIRECTION_DOCUMENTS), mean)
            }
            None => self.sae.decoder_row(feature as usize).to_vec(),
        });
        let label = self.label_embeddings.as_ref().map(|m| m.row(feature as usize));
        Ok(concept_direction(q, label, documents))
    }

    /// [`Explorer::new`] with the steering unit and the families of a bundle's catalog.
    pub async fn with_catalog(
        backend: Rc<B>,
        sae: Sae,
        corpus: Corpus,
        codes: Option<SparseCodes>,
        catalog: &Catalog,
    ) -> Result<Self> {
        let (strong, families) = steering_inputs(catalog, sae.d_sae);
        Self::new(backend, sae, corpus, codes, strong, families)
            .await?
            .with_label_embeddings(catalog.label_embeddings.clone())
    }

    pub fn sae(&self) -> &Sae {
        &self.sae
    }

    pub fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    /// Family `id`'s members, parent first.
    pub fn family_members(&self, id: usize) -> Result<&[u32]> {
        self.families.get(id).map(Vec::as_slice).ok_or_else(|| {
            Error::Invalid(format!("family {id} does not exist (the bundle has {})", self.families.len()))
        })
    }

    pub fn codes(&self) -> Result<&SparseCodes> {
        self.codes
            .as_ref()
            .ok_or_else(|| Error::Missing("sparse codes in this bundle (codes/indices.npy, codes/values.npy)".into()))
    }

    /// Document `doc`'s embedding ("more like this").
    pub fn document_vector(&self, doc: u32) -> Result<Vec<f32>> {
        document_vector(&self.corpus, doc)
    }

    /// Activations for steering `features` together at `strength` (1 = as strong as the
    /// query): the features get norm `strength`, each in proportion to its strong activation.
    pub fn steering_activations(&self, features: &[u32], strength: f32) -> Result<Vec<(u32, f32)>> {
        check_features(features.iter().copied(), self.sae.d_sae)?;
        let strong: Vec<f32> = features.iter().map(|&j| self.strong[j as usize]).collect();
        let norm = strong.iter().map(|s| s * s).sum::<f32>().sqrt();
        let norm = if norm > 0.0 { norm } else { 1.0 };
        Ok(features.iter().zip(strong).map(|(&j, s)| (j, strength * s / norm)).collect())
    }

    /// The edits of `steering`: families expanded in order, then explicit edits over them.
    pub fn resolve(&self, steering: &Steering) -> Result<Vec<(u32, f32)>> {
        let mut edits: Vec<(u32, f32)> = Vec::new();
        let mut set = |j: u32, v: f32| match edits.iter_mut().find(|e| e.0 == j) {
            Some(e) => e.1 = v,
            None => edits.push((j, v)),
        };
        for &(id, strength) in &steering.families {
            let members = self.families.get(id).ok_or_else(|| {
                Error::Invalid(format!("family {id} does not exist (the bundle has {})", self.families.len()))
            })?;
            for (j, v) in self.steering_activations(members, strength)? {
                set(j, v);
            }
        }
        for &(j, v) in &steering.edits {
            set(j, v);
        }
        Ok(edits)
    }

    /// Steered search: encodes `query`, applies the steering, decodes, and returns the `k`
    /// documents nearest the steered query in `mode`. Without edits in keep-error mode this is
    /// plain search.
    pub async fn steered_search(
        &self,
        query: &[f32],
        steering: &Steering,
        mode: SteerMode,
        k: usize,
    ) -> Result<SteeredSearch> {
        let q = Matrix::new(1, self.corpus.dim, query.to_vec())
            .map_err(|_| Error::Shape(format!("a query must have {} numbers, got {}", self.corpus.dim, query.len())))?;
        q.check_finite("the query")?;
        let edits = self.resolve(steering)?;
        let codes = self.backend.encode(&self.resident_sae, &q).await?;
        let code: Vec<(u32, f32)> = codes.active(0).collect();
        let steered_code = apply_edits(&code, &edits, self.sae.d_sae)?;
        let steered = if mode == SteerMode::Concept {
            let (q_unit, mut moved) = (unit(q.row(0)), q.row(0).to_vec());
            for &(feature, value) in &edits {
                let before = code.iter().find(|a| a.0 == feature).map_or(0.0, |a| a.1);
                if value != before {
                    let u = self.concept_direction(&q_unit, feature)?;
                    moved.iter_mut().zip(&u).for_each(|(m, u)| *m += (value - before) * u);
                }
            }
            Matrix::new(1, q.cols, moved)?
        } else if edits.is_empty() && mode == SteerMode::KeepError {
            q.clone()
        } else {
            let both = rows_to_codes(&[&code, &steered_code], self.sae.d_sae)?;
            let recon = self.backend.decode(&self.resident_sae, &both).await?;
            Matrix::new(1, q.cols, steered_query(q.row(0), recon.row(0), recon.row(1), mode))?
        };
        let found = self.backend.search(&self.resident_corpus, &steered, k).await?;
        let (docs, scores) = found.row(0);
        let mut hits: Vec<Hit> =
            docs.iter().zip(scores).map(|(&doc, &score)| Hit { doc, score, fires: Vec::new() }).collect();
        if let Some(all) = &self.codes {
            for &(feature, _) in edits.iter().filter(|e| e.1 > 0.0) {
                let acts = explore::activations_in(all, feature, docs)?;
                hits.iter_mut().zip(acts).filter(|(_, a)| *a > 0.0).for_each(|(h, _)| h.fires.push(feature));
            }
        }
        let features = code.iter().map(|&(feature, activation)| Feature { feature, activation }).collect();
        Ok(SteeredSearch { features, edits, cosine: cosine(steered.row(0), q.row(0)), hits })
    }
}

impl<B: EncodeOps + SearchOps + ClusterOps> Explorer<B> {
    /// k-means of the documents in `space` on the backend, each cluster named by its most
    /// over-represented features with example documents.
    pub async fn cluster(
        &self,
        space: &ClusterSpace,
        clusters: usize,
        iterations: usize,
        seed: u64,
    ) -> Result<NamedClusters> {
        let codes = self.codes()?;
        let (assignments, inertia): (Vec<Option<u32>>, Vec<f64>) = match space {
            ClusterSpace::Along(features) => {
                let along =
                    analysis::cluster_along(&*self.backend, codes, features, clusters, iterations, seed).await?;
                (along.assignments.iter().map(|&c| u32::try_from(c).ok()).collect(), along.inertia)
            }
            ClusterSpace::Codes | ClusterSpace::Embeddings => {
                let dense;
                let (points, metric) = if *space == ClusterSpace::Codes {
                    (Points::Sparse(codes), Metric::Euclidean)
                } else {
                    dense = self.corpus.to_matrix();
                    (Points::Dense(&dense), Metric::Cosine)
                };
                let config = KMeansConfig { clusters, iterations, metric, seed };
                let result = kmeans(&*self.backend, points, &config).await?;
                (result.assignments.into_iter().map(Some).collect(), result.inertia)
            }
        };
        let summary = explore::describe_clusters(codes, &assignments, clusters, 5, 4)?;
        Ok(NamedClusters {
            clusters: summary,
            inertia: inertia.last().copied().unwrap_or(f64::NAN),
            iterations: inertia.len(),
            clustered: assignments.iter().flatten().count(),
            assignments: assignments.iter().map(|c| c.unwrap_or(NOT_CLUSTERED)).collect(),
        })
    }
}

/// Document `doc`'s embedding in `corpus`, or an error naming how many there are.
pub fn document_vector(corpus: &Corpus, doc: u32) -> Result<Vec<f32>> {
    corpus
        .row(doc as usize)
        .ok_or_else(|| Error::Invalid(format!("document {doc} does not exist (the bundle has {})", corpus.rows())))
}

/// What steering needs from a bundle's catalog: each feature's strong activation (from
/// `features.json`; empty without it, meaning 1 for all) and each family's members by family
/// id, parent first.
pub fn steering_inputs(catalog: &Catalog, d_sae: usize) -> (Vec<f32>, Vec<Vec<u32>>) {
    let strong = catalog.features.as_ref().map(|f| f.strong_activations(d_sae)).unwrap_or_default();
    let families = catalog.families.as_ref().map_or_else(Vec::new, |file| {
        file.families.iter().map(|f| std::iter::once(f.parent).chain(f.children.iter().copied()).collect()).collect()
    });
    (strong, families)
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;
    use saescope_core::{block_on_ready, CpuBackend};

    fn explorer(data: &PlantedData, strong: Vec<f32>, families: Vec<Vec<u32>>) -> Explorer<CpuBackend> {
        let corpus = Corpus::from_matrix(&data.embeddings, 64, saescope_core::search::Precision::F32);
        let codes = data.sae.encode(&data.embeddings).unwrap();
        block_on_ready(Explorer::new(Rc::new(CpuBackend), data.sae.clone(), corpus, Some(codes), strong, families))
            .unwrap()
    }

    #[test]
    fn plain_search_finds_the_document_itself() {
        let data = PlantedData::generate(32, 48, 3, 200, 1);
        let e = explorer(&data, vec![], vec![]);
        for mode in [SteerMode::KeepError, SteerMode::Concept] {
            let r = block_on_ready(e.steered_search(data.embeddings.row(17), &Steering::default(), mode, 5)).unwrap();
            assert_eq!(r.hits[0].doc, 17);
            assert!((r.cosine - 1.0).abs() < 1e-6, "{mode:?}");
            assert!(r.edits.is_empty());
            assert_eq!(r.features.len(), 3);
        }
    }

    #[test]
    fn boosting_a_feature_brings_its_documents_and_says_which_fire() {
        let data = PlantedData::generate(64, 48, 3, 300, 2);
        // Labels embedded as the planted atoms themselves: concept steering with and without them.
        let labels = Matrix::new(48, 64, data.sae.w_dec.clone()).unwrap();
        let with_labels = explorer(&data, vec![], vec![]).with_label_embeddings(Some(labels)).unwrap();
        let query = data.embeddings.row(0);
        let own: Vec<u32> = data.atoms_of(0);
        let boosted = (0..48u32).find(|j| !own.contains(j)).unwrap();
        let steering = Steering { edits: vec![(boosted, 10.0)], families: vec![] };
        for (e, mode) in [
            (&explorer(&data, vec![], vec![]), SteerMode::KeepError),
            (&explorer(&data, vec![], vec![]), SteerMode::Concept),
            (&with_labels, SteerMode::Concept),
        ] {
            let r = block_on_ready(e.steered_search(query, &steering, mode, 10)).unwrap();
            let firing = r.hits.iter().filter(|h| h.fires == [boosted]).count();
            let truly = r.hits.iter().filter(|h| data.atoms_of(h.doc as usize).contains(&boosted)).count();
            assert_eq!(firing, truly, "fires names exactly the hits where the feature is active");
            assert!(firing >= 9, "{mode:?}: {firing} of 10 results fire the boosted feature");
            assert!(r.cosine < 0.9, "the query moved: cosine {}", r.cosine);
        }
        // Without codes (no top documents), the decoder row stands in for their direction.
        let corpus = Corpus::from_matrix(&data.embeddings, 64, saescope_core::search::Precision::F32);
        let no_codes =
            block_on_ready(Explorer::new(Rc::new(CpuBackend), data.sae.clone(), corpus, None, vec![], vec![])).unwrap();
        let r = block_on_ready(no_codes.steered_search(query, &steering, SteerMode::Concept, 10)).unwrap();
        let truly = r.hits.iter().filter(|h| data.atoms_of(h.doc as usize).contains(&boosted)).count();
        assert!(truly >= 9, "{truly} of 10 results have the boosted atom");
        let wrong = Matrix::zeros(47, 64);
        assert!(explorer(&data, vec![], vec![]).with_label_embeddings(Some(wrong)).is_err());
    }

    #[test]
    fn families_expand_in_the_query_unit_and_explicit_edits_win() {
        let data = PlantedData::generate(16, 20, 2, 50, 3);
        let mut strong = vec![1.0; 20];
        strong[3] = 3.0;
        strong[4] = 4.0;
        let e = explorer(&data, strong, vec![vec![3, 4], vec![5]]);
        let edits = e.resolve(&Steering { edits: vec![(4, 0.5)], families: vec![(0, 2.0)] }).unwrap();
        assert_eq!(edits.len(), 2);
        assert!((edits[0].1 - 2.0 * 3.0 / 5.0).abs() < 1e-6, "{edits:?}");
        assert_eq!(edits[1], (4, 0.5));
        assert_eq!(e.steering_activations(&[5], 1.0).unwrap(), vec![(5, 1.0)]);
        assert!(e
            .resolve(&Steering { edits: vec![], families: vec![(7, 1.0)] })
            .unwrap_err()
            .to_string()
            .contains("family 7"));
        assert!(e.steering_activations(&[99], 1.0).unwrap_err().to_string().contains("feature 99 does not exist"));
    }

    #[test]
    fn bad_queries_are_refused() {
        let data = PlantedData::generate(16, 20, 2, 50, 4);
        let e = explorer(&data, vec![], vec![]);
        let short =
            block_on_ready(e.steered_search(&[0.0; 3], &Steering::default(), SteerMode::KeepError, 5)).unwrap_err();
        assert!(short.to_string().contains("16 numbers"), "{short}");
        let mut nan = data.embeddings.row(0).to_vec();
        nan[2] = f32::NAN;
        assert!(block_on_ready(e.steered_search(&nan, &Steering::default(), SteerMode::KeepError, 5)).is_err());
        assert!(e.document_vector(50).is_err());
    }

    #[test]
    fn clusters_are_named_in_every_space() {
        let data = PlantedData::generate(16, 24, 2, 120, 5);
        let e = explorer(&data, vec![], vec![]);
        for space in [ClusterSpace::Codes, ClusterSpace::Embeddings, ClusterSpace::Along(vec![0, 1, 2])] {
            let r = pollster::block_on(e.cluster(&space, 3, 5, 1)).unwrap();
            assert_eq!(r.clusters.len(), 3, "{space:?}");
            assert!(r.clustered > 0 && r.clustered <= 120);
            assert!(r.inertia.is_finite());
        }
        assert!(ClusterSpace::parse("embeddings", vec![1]).is_err());
        assert!(ClusterSpace::parse("pixels", vec![]).is_err());
    }
}
