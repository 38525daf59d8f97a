//! saescope-interp: what the SAE's features mean and what one can do with them, on top of
//! `saescope-core`'s math (and any backend). Platform-free, like core.
//!
//! - `phrases` -> `labels`: contrastive keyphrase labels, scored on held-out documents, the
//!   paper's clean-feature filter and label files.
//! - `families`: the paper's spanning-tree feature families, their labels and statistics.
//! - `analysis`: arXiv 2512.10092's dataset diffing, NPMI, property retrieval, clustering along
//!   chosen features.
//! - `catalog`: a bundle's documents, feature statistics, labels and families, parsed once.
//! - `explorer`: a loaded corpus on any backend: steered search (the steering unit, family
//!   expansion, both modes), clustering named by features; what the page and `saescope steer` run.
//! - `selection`: the map's polygon selections, the features over-represented in a selection
//!   (Haldane log-odds, confidence bound, Benjamini-Hochberg), columns to colour the map by.
//! - `explain`: one embedding through the SAE step by step (pre-activations, the top-k cut,
//!   the kept features and their shares of the reconstruction), for the classroom explainer.
//! - `steer_eval`: the paper's steering evaluation offline (two judges, a cosine sweep, the
//!   rewrite baseline), to compare steering directions.
//! - `steer`: edits to a query's code and the two steering modes; `explore`: decoder
//!   neighbours, co-firing, naming clusters by their over-represented features.

pub mod analysis;
pub mod catalog;
pub mod explain;
pub mod explore;
pub mod explorer;
pub mod families;
pub mod labels;
pub mod phrases;
pub mod selection;
pub mod steer;
pub mod steer_eval;
