//! `features.json`: the SAE's metrics on the corpus and every feature's statistics (density,
//! activation histogram, top documents), written by `saescope build` and read by the page.

use saescope_core::error::{Error, Result};
use saescope_core::metrics::{FeatureStats, Metrics};
use serde::{Deserialize, Serialize};

#[derive(ts_rs::TS, Clone, Debug, Serialize, Deserialize)]
pub struct FeaturesFile {
    pub metrics: Metrics,
    /// One entry per feature, by feature index.
    pub features: Vec<FeatureStats>,
}

impl FeaturesFile {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Format(format!("features.json: {e}")))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("features serialise")
    }

    /// Each feature's typical strong activation: the mean over its top documents, 1 for a
    /// feature without any (the steering unit, see `saescope_interp::explorer`).
    pub fn strong_activations(&self, d_sae: usize) -> Vec<f32> {
        let mut strong = vec![1.0; d_sae];
        for f in &self.features {
            if let Some(slot) = strong.get_mut(f.feature as usize) {
                if !f.top_documents.is_empty() {
                    *slot = f.top_documents.iter().map(|&(_, a)| a).sum::<f32>() / f.top_documents.len() as f32;
                }
            }
        }
        strong
    }
}
