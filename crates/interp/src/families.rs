//! Feature families (arXiv 2408.00657, section 5; the algorithm of the paper's code,
//! `saerch/matrix.py`): groups of features where a denser parent fires with a set of rarer
//! children, found in the co-occurrence graph.
//!
//! One round: `P[i, j] = C[i, j] / (C[i, i] + 1)` over the candidate features; pairs with
//! `P < threshold` (0.1 in the first round, 0.07 later) are dropped; each kept pair is weighted
//! by `exp(P)`; the maximum spanning forest (Kruskal) is oriented from the denser feature to the
//! rarer one. A root (no parent) with more than two children is a family whose members are all
//! its descendants; inside a family, every child of a family's root that itself has more than
//! two children is a family too (recursively). Then the roots found are removed from the
//! candidates and the next round runs on what is left: the first round plus `repeats` (3).
//! Families with more than three members are kept and near-duplicates (Jaccard of members
//! > 0.6) merged, keeping the larger.
//!
//! Choices where the description leaves room (also in the README):
//! - `P` is asymmetric and the spanning tree needs one weight per pair: we use
//!   `max(P[i, j], P[j, i]) = C[i, j] / (min(C[i, i], C[j, j]) + 1)`, the co-occurrence seen
//!   from the rarer feature. (The paper's code builds an undirected networkx graph from the
//!   asymmetric matrix, where the entry visited last wins: which direction counts depends on
//!   index order.)
//! - Ties in density orient the edge from the lower index; ties in weight are broken by index.
//! - "Merging" a near-duplicate drops the smaller family (as the paper's code does).
//! - A family's `parent_family` is the smallest family of the same round that contains its
//!   parent as a member, else the smallest of an earlier round: never a cycle.

use crate::labels::{labels_by_feature, FeatureLabel};
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::error::{Error, Result};
use saescope_core::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Version of the family method: part of cache keys (bump it when the same inputs would give
/// other families or statistics).
pub const METHOD_VERSION: u32 = 1;

/// Which features the family graph is built on.
#[derive(ts_rs::TS, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeSet {
    /// Every live feature below `max_density`.
    Live,
    /// The paper's choice: only features whose label passed the clean filter.
    Clean,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyParams {
    pub first_threshold: f64,
    pub later_threshold: f64,
    /// Rounds after the first, each on the candidates minus all roots found so far.
    pub repeats: usize,
    /// A root needs at least this many children (the paper's "> 2").
    pub root_min_children: usize,
    /// A family needs at least this many members (the paper's "> 3").
    pub min_members: usize,
    /// Families whose members overlap by more than this Jaccard index are merged.
    pub merge_jaccard: f64,
    pub nodes: NodeSet,
    /// Candidates must fire on fewer than this fraction of documents (the paper's clean filter).
    pub max_density: f64,
    /// How `P` is made symmetric for the spanning tree (see the module documentation).
    pub symmetrise: String,
    /// Seed of the random-permutation control of the block-diagonal ratio.
    pub seed: u64,
}

impl Default for FamilyParams {
    fn default() -> Self {
        Self {
            first_threshold: 0.1,
            later_threshold: 0.07,
            repeats: 3,
            root_min_children: 3,
            min_members: 4,
            merge_jaccard: 0.6,
            nodes: NodeSet::Live,
            max_density: 0.2,
            symmetrise: "max(P[i,j], P[j,i]) = C[i,j] / (min(C[i,i], C[j,j]) + 1)".into(),
            seed: 0,
        }
    }
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub id: usize,
    pub parent: u32,
    pub label: String,
    /// Every descendant of the parent in the oriented tree, densest first.
    pub children: Vec<u32>,
    pub round: usize,
    pub parent_family: Option<usize>,
}

/// The candidate features: live, below `max_density`, and for [`NodeSet::Clean`] labelled clean.
pub fn family_nodes(cooc: &Cooccurrence, labels: &[FeatureLabel], params: &FamilyParams) -> Vec<u32> {
    let by = labels_by_feature(labels, cooc.d_sae);
    let n = cooc.documents.max(1) as f64;
    (0..cooc.d_sae as u32)
        .filter(|&i| {
            let count = cooc.diagonal[i as usize];
            count > 0
                && (count as f64 / n) < params.max_density
                && (params.nodes == NodeSet::Live || by[i as usize].is_some_and(|l| l.clean))
        })
        .collect()
}

/// `max(P[i, j], P[j, i])`.
fn edge_strength(cooc: &Cooccurrence, i: u32, j: u32, count: u32) -> f64 {
    let rarer = cooc.diagonal[i as usize].min(cooc.diagonal[j as usize]);
    count as f64 / (rarer as f64 + 1.0)
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

/// The maximum spanning forest over `in_graph` with edges `>= threshold`, oriented from the
/// denser feature to the rarer: (children of each feature, whether it has a parent).
fn oriented_forest(cooc: &Cooccurrence, in_graph: &[bool], threshold: f64) -> (Vec<Vec<u32>>, Vec<bool>) {
    let mut edges: Vec<(f64, u32, u32)> = cooc
        .pairs()
        .filter(|&(i, j, _)| in_graph[i as usize] && in_graph[j as usize])
        .map(|(i, j, c)| (edge_strength(cooc, i, j, c), i, j))
        .filter(|e| e.0 >= threshold)
        // The paper's weight; exp is monotone, so the tree is that of P itself.
        .map(|(p, i, j)| (p.exp(), i, j))
        .collect();
    edges.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut set: Vec<u32> = (0..cooc.d_sae as u32).collect();
    let mut children = vec![Vec::new(); cooc.d_sae];
    let mut has_parent = vec![false; cooc.d_sae];
    for (_, i, j) in edges {
        let (a, b) = (find(&mut set, i), find(&mut set, j));
        if a == b {
            continue;
        }
        set[a as usize] = b;
        let (di, dj) = (cooc.diagonal[i as usize], cooc.diagonal[j as usize]);
        let (from, to) = if di > dj || (di == dj && i < j) { (i, j) } else { (j, i) };
        children[from as usize].push(to);
        has_parent[to as usize] = true;
    }
    (children, has_parent)
}

fn descendants(children: &[Vec<u32>], root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = children[root as usize].clone();
    while let Some(n) = stack.pop() {
        out.push(n);
        stack.extend(&children[n as usize]);
    }
    out
}

struct Candidate {
    parent: u32,
    members: Vec<u32>,
    round: usize,
}

fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    // Both sorted ascending.
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - common;
    if union == 0 {
        0.0
    } else {
        common as f64 / union as f64
    }
}

/// The families of the candidate features `nodes` (see the module documentation), without
/// labels (see [`label_families`]).
pub fn find_families(
    cooc: &Cooccurrence,
    nodes: &[u32],
    params: &FamilyParams,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Family>> {
    saescope_core::sae::check_features(nodes.iter().copied(), cooc.d_sae)?;
    let mut in_graph = vec![false; cooc.d_sae];
    nodes.iter().for_each(|&n| in_graph[n as usize] = true);
    let mut found: Vec<Candidate> = Vec::new();
    for round in 0..=params.repeats {
        let threshold = if round == 0 { params.first_threshold } else { params.later_threshold };
        let (children, has_parent) = oriented_forest(cooc, &in_graph, threshold);
        let is_root = |n: u32| children[n as usize].len() >= params.root_min_children;
        let mut stack: Vec<u32> =
            (0..cooc.d_sae as u32).filter(|&n| in_graph[n as usize] && !has_parent[n as usize] && is_root(n)).collect();
        let mut roots = Vec::new();
        while let Some(root) = stack.pop() {
            roots.push(root);
            stack.extend(children[root as usize].iter().copied().filter(|&c| is_root(c)));
            let members = descendants(&children, root);
            if members.len() >= params.min_members {
                found.push(Candidate { parent: root, members, round });
            }
        }
        progress(round);
        if roots.is_empty() && round > 0 {
            break; // the graph will not change again
        }
        roots.iter().for_each(|&r| in_graph[r as usize] = false);
    }
    Ok(merge_and_number(cooc, found, params.merge_jaccard))
}

/// Drops near-duplicates (keeping the larger), numbers the families by round and size, and
/// links each to its parent family.
fn merge_and_number(cooc: &Cooccurrence, mut found: Vec<Candidate>, merge_jaccard: f64) -> Vec<Family> {
    found.sort_by(|a, b| {
        b.members.len().cmp(&a.members.len()).then(a.round.cmp(&b.round)).then(a.parent.cmp(&b.parent))
    });
    let mut kept: Vec<(Candidate, Vec<u32>)> = Vec::new();
    for c in found {
        let mut sorted = c.members.clone();
        sorted.sort_unstable();
        if kept.iter().all(|(_, k)| jaccard(k, &sorted) <= merge_jaccard) {
            kept.push((c, sorted));
        }
    }
    kept.sort_by(|(a, _), (b, _)| {
        a.round.cmp(&b.round).then(b.members.len().cmp(&a.members.len())).then(a.parent.cmp(&b.parent))
    });
    let mut families: Vec<Family> = kept
        .into_iter()
        .enumerate()
        .map(|(id, (mut c, _))| {
            c.members.sort_by(|&a, &b| cooc.diagonal[b as usize].cmp(&cooc.diagonal[a as usize]).then(a.cmp(&b)));
            Family {
                id,
                parent: c.parent,
                label: String::new(),
                children: c.members,
                round: c.round,
                parent_family: None,
            }
        })
        .collect();
    link_parent_families(&mut families);
    families
}

/// Sets each family's `parent_family`: the smallest family of the same round containing its
/// parent as a member, else the smallest of an earlier round.
pub fn link_parent_families(families: &mut [Family]) {
    let links: Vec<Option<usize>> = families
        .iter()
        .map(|f| {
            let containing = |same_round: bool| {
                families
                    .iter()
                    .filter(|g| g.id != f.id && g.children.contains(&f.parent))
                    .filter(|g| {
                        if same_round {
                            g.round == f.round && g.children.len() > f.children.len()
                        } else {
                            g.round < f.round
                        }
                    })
                    .min_by_key(|g| (g.children.len(), g.id))
                    .map(|g| g.id)
            };
            containing(true).or_else(|| containing(false))
        })
        .collect();
    families.iter_mut().zip(links).for_each(|(f, l)| f.parent_family = l);
}

/// A feature's label, or "feature N" where it has none.
fn label_or_index(by: &[Option<&FeatureLabel>], feature: u32) -> String {
    by.get(feature as usize).copied().flatten().map_or_else(|| format!("feature {feature}"), |l| l.label.clone())
}

/// The label of each family: its parent's label, plus up to three phrases shared by at least
/// two children's labels (phrases are the "; "-separated parts of a label).
pub fn label_families(families: &mut [Family], labels: &[FeatureLabel], d_sae: usize) {
    let by = labels_by_feature(labels, d_sae);
    let label_of = |f: u32| label_or_index(&by, f);
    for family in families.iter_mut() {
        let parent = label_of(family.parent);
        let own: Vec<&str> = parent.split("; ").collect();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for &c in &family.children {
            let mut phrases: Vec<String> = label_of(c).split("; ").map(str::to_owned).collect();
            phrases.sort_unstable();
            phrases.dedup();
            for p in phrases.into_iter().filter(|p| !own.contains(&p.as_str())) {
                *counts.entry(p).or_default() += 1;
            }
        }
        let mut common: Vec<(String, usize)> = counts.into_iter().filter(|c| c.1 >= 2).collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        common.truncate(3);
        family.label = if common.is_empty() {
            parent
        } else {
            format!("{parent} (children: {})", common.into_iter().map(|c| c.0).collect::<Vec<_>>().join(", "))
        };
    }
}

/// The paper's family statistics.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyStats {
    /// Members of each family, by id.
    pub sizes: Vec<usize>,
    /// Mean over families of (mean parent-child co-occurrence) / (mean child-child
    /// co-occurrence), co-occurrence normalised as `C[i, j] / min(C[i, i], C[j, j])`, the
    /// diagonal left out; families whose children never co-occur are skipped.
    pub cooccurrence_ratio: Option<f64>,
    /// Fraction of the normalised co-occurrence mass among candidate features (off-diagonal)
    /// that lies inside family blocks (each feature in the block of the first family holding
    /// it; features in no family are blocks of one).
    pub block_diagonal_ratio: Option<f64>,
    /// The same for the same block sizes over randomly permuted features (mean of 20).
    pub block_diagonal_ratio_random: Option<f64>,
    /// Fraction of the candidate features that belong to some family.
    pub membership_fraction: f64,
    pub candidates: usize,
    pub live: usize,
    pub families_per_round: Vec<usize>,
}

fn normalised(cooc: &Cooccurrence, i: u32, j: u32, count: u32) -> f64 {
    let rarer = cooc.diagonal[i as usize].min(cooc.diagonal[j as usize]);
    if rarer == 0 {
        0.0
    } else {
        count as f64 / rarer as f64
    }
}

fn block_mass(cooc: &Cooccurrence, block: &[usize]) -> (f64, f64) {
    let (mut inside, mut total) = (0.0, 0.0);
    for (i, j, c) in cooc.pairs() {
        let (bi, bj) = (block[i as usize], block[j as usize]);
        if bi == usize::MAX || bj == usize::MAX {
            continue;
        }
        let n = normalised(cooc, i, j, c);
        total += n;
        if bi == bj {
            inside += n;
        }
    }
    (inside, total)
}

pub fn family_stats(cooc: &Cooccurrence, nodes: &[u32], families: &[Family], seed: u64) -> FamilyStats {
    let mut ratios = Vec::new();
    for f in families {
        let parent: Vec<f64> =
            f.children.iter().map(|&c| normalised(cooc, f.parent, c, cooc.get(f.parent, c))).collect();
        let mut siblings = Vec::new();
        for (a, &c) in f.children.iter().enumerate() {
            for &d in &f.children[a + 1..] {
                siblings.push(normalised(cooc, c, d, cooc.get(c, d)));
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        if mean(&siblings) > 0.0 {
            ratios.push(mean(&parent) / mean(&siblings));
        }
    }
    // Blocks over candidate features; usize::MAX marks features outside the candidates.
    let mut block = vec![usize::MAX; cooc.d_sae];
    let mut is_node = vec![false; cooc.d_sae];
    nodes.iter().for_each(|&n| is_node[n as usize] = true);
    let mut in_family = 0;
    for (b, f) in families.iter().enumerate() {
        for &m in std::iter::once(&f.parent).chain(&f.children) {
            if is_node[m as usize] && block[m as usize] == usize::MAX {
                block[m as usize] = b;
                in_family += 1;
            }
        }
    }
    let mut next = families.len();
    for &n in nodes {
        if block[n as usize] == usize::MAX {
            block[n as usize] = next;
            next += 1;
        }
    }
    let ratio = |(inside, total): (f64, f64)| (total > 0.0).then(|| inside / total);
    let actual = ratio(block_mass(cooc, &block));
    let mut rng = SeededRng::new(seed);
    let mut random = Vec::new();
    for _ in 0..20 {
        let order = rng.distinct(nodes.len(), nodes.len());
        let mut shuffled = vec![usize::MAX; cooc.d_sae];
        for (k, &n) in nodes.iter().enumerate() {
            shuffled[n as usize] = block[nodes[order[k]] as usize];
        }
        random.extend(ratio(block_mass(cooc, &shuffled)));
    }
    let rounds = families.iter().map(|f| f.round + 1).max().unwrap_or(0);
    FamilyStats {
        sizes: families.iter().map(|f| f.children.len()).collect(),
        cooccurrence_ratio: (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64),
        block_diagonal_ratio: actual,
        block_diagonal_ratio_random: (!random.is_empty()).then(|| random.iter().sum::<f64>() / random.len() as f64),
        membership_fraction: in_family as f64 / nodes.len().max(1) as f64,
        candidates: nodes.len(),
        live: cooc.diagonal.iter().filter(|&&c| c > 0).count(),
        families_per_round: (0..rounds).map(|r| families.iter().filter(|f| f.round == r).count()).collect(),
    }
}

/// The `families.json` of a bundle.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamiliesFile {
    pub params: FamilyParams,
    pub families: Vec<Family>,
    pub stats: FamilyStats,
}

/// One entry of the paper's family JSON: `{"parent": [label, index], "children": [[label, index], ...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaperFamily {
    pub parent: (String, u32),
    pub children: Vec<(String, u32)>,
}

/// The paper's format, keyed by the parent's label (made unique with the feature index where
/// two families share a parent label).
pub fn to_paper_json(
    families: &[Family],
    labels: &[FeatureLabel],
    d_sae: usize,
) -> serde_json::Map<String, serde_json::Value> {
    let by = labels_by_feature(labels, d_sae);
    let label_of = |f: u32| label_or_index(&by, f);
    let mut out = serde_json::Map::new();
    for f in families {
        let mut key = label_of(f.parent);
        if out.contains_key(&key) {
            key = format!("{key} (feature {})", f.parent);
        }
        let entry = PaperFamily {
            parent: (label_of(f.parent), f.parent),
            children: f.children.iter().map(|&c| (label_of(c), c)).collect(),
        };
        out.insert(key, serde_json::to_value(entry).expect("serialisable"));
    }
    out
}

/// Reads the paper's family JSON. The paper's own files store the parent's subtree size where
/// the index belongs (`"parent": [label, number_of_nodes]`), so a parent whose label names
/// exactly one feature in `labels` takes that feature's index; otherwise the number is used.
/// Families come as round 0, in key order, with `parent_family` from membership.
pub fn from_paper_json(bytes: &[u8], labels: &[FeatureLabel]) -> Result<Vec<Family>> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Format("families file is not UTF-8".into()))?;
    let entries: std::collections::BTreeMap<String, PaperFamily> = serde_json::from_str(&crate::labels::python_json_to_standard(text))
        .map_err(|e| Error::Format(format!("families file: {e} (expected {{label: {{\"parent\": [label, index], \"children\": [[label, index], ...]}}}})")))?;
    let mut by_label: HashMap<&str, Vec<u32>> = HashMap::new();
    labels.iter().for_each(|l| by_label.entry(l.label.as_str()).or_default().push(l.index));
    let mut families: Vec<Family> = entries
        .into_values()
        .enumerate()
        .map(|(id, f)| {
            let parent = match by_label.get(f.parent.0.as_str()).map(Vec::as_slice) {
                Some([only]) => *only,
                _ => f.parent.1,
            };
            Family {
                id,
                parent,
                label: f.parent.0,
                children: f.children.into_iter().map(|c| c.1).collect(),
                round: 0,
                parent_family: None,
            }
        })
        .collect();
    link_parent_families(&mut families);
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FamilyParams {
        FamilyParams::default()
    }

    fn all(c: &Cooccurrence) -> Vec<u32> {
        (0..c.d_sae as u32).collect()
    }

    fn run(c: &Cooccurrence) -> Vec<Family> {
        find_families(c, &all(c), &params(), |_| {}).unwrap()
    }

    #[test]
    fn a_star_is_one_family_and_three_children_are_too_few() {
        // 0 is dense; 1..=5 fire only with it.
        let star =
            Cooccurrence::from_pairs(6, 1000, vec![100, 10, 10, 10, 10, 10], (1..6).map(|c| (0, c, 10))).unwrap();
        let f = run(&star);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].parent, f[0].round, f[0].parent_family), (0, 0, None));
        assert_eq!(f[0].children, vec![1, 2, 3, 4, 5]);
        // Three children make a root (removed for the next round) but not a kept family.
        let small = Cooccurrence::from_pairs(4, 1000, vec![100, 10, 10, 10], (1..4).map(|c| (0, c, 10))).unwrap();
        assert!(run(&small).is_empty());
    }

    #[test]
    fn nested_families_link_to_their_parent_family() {
        // 0 -> 1..=4; 1 -> 5..=8 (5..=8 fire with 1 always and with 0 half the time).
        let mut pairs: Vec<(u32, u32, u32)> = (1..5).map(|c| (0, c, 30)).collect();
        pairs.extend((5..9).flat_map(|c| [(1, c, 10), (0, c, 5)]));
        let diag = vec![100, 30, 30, 30, 30, 10, 10, 10, 10];
        let c = Cooccurrence::from_pairs(9, 1000, diag, pairs).unwrap();
        let f = run(&c);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!((f[0].parent, f[0].children.len()), (0, 8));
        assert_eq!(f[0].children[..4], [1, 2, 3, 4], "densest first");
        assert_eq!((f[1].parent, f[1].children.clone(), f[1].parent_family), (1, vec![5, 6, 7, 8], Some(0)));
        let stats = family_stats(&c, &all(&c), &f, 1);
        assert_eq!(stats.sizes, vec![8, 4]);
        assert_eq!(stats.membership_fraction, 1.0);
        assert_eq!(stats.block_diagonal_ratio, Some(1.0), "all co-occurrence is inside the family");
    }

    #[test]
    fn thresholds_differ_between_the_first_and_later_rounds() {
        // P = 2 / (24 + 1) = 0.08: below 0.1, above 0.07.
        let c = Cooccurrence::from_pairs(6, 1000, vec![500, 24, 24, 24, 24, 24], (1..6).map(|i| (0, i, 2))).unwrap();
        let f = run(&c);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].parent, f[0].round), (0, 1));
        let weak = Cooccurrence::from_pairs(6, 1000, vec![500, 24, 24, 24, 24, 24], (1..6).map(|i| (0, i, 1))).unwrap();
        assert!(run(&weak).is_empty(), "P = 0.04 is below both thresholds");
    }

    #[test]
    fn near_duplicates_merge_into_the_larger() {
        // Round 0: 0 -> 1..=6. Round 1 (0 removed): 1 -> 2..=6 (5 of the 6 members: Jaccard 5/6).
        let mut pairs: Vec<(u32, u32, u32)> = (1..7).map(|c| (0, c, 20)).collect();
        pairs.extend((2..7).map(|c| (1, c, 8)));
        let c = Cooccurrence::from_pairs(7, 1000, vec![100, 40, 20, 20, 20, 20, 20], pairs).unwrap();
        let f = run(&c);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].parent, 0);
        let keep_both = find_families(&c, &all(&c), &FamilyParams { merge_jaccard: 0.9, ..params() }, |_| {}).unwrap();
        assert_eq!(keep_both.len(), 2);
        // Round-0 family 0 contains 1 (the parent of the round-1 family).
        assert_eq!((keep_both[1].round, keep_both[1].parent_family), (1, Some(0)));
    }

    #[test]
    fn planted_hierarchies_are_recovered() {
        // 24 families keep each parent's density near 5%: independent noise features co-occur
        // with a parent at P = its density, far enough below the first round's 0.1.
        let planted = saescope_core::synth::planted_families(24, 6, 10, 30_000, 7).unwrap();
        let c = saescope_core::cooccurrence::cooccurrence(&planted.codes).unwrap();
        let labels = [];
        let nodes = family_nodes(&c, &labels, &params());
        assert_eq!(nodes.len(), c.d_sae, "every planted feature is live and below 20% density");
        let f = find_families(&c, &nodes, &params(), |_| {}).unwrap();
        let mut found: Vec<(u32, Vec<u32>)> = f
            .iter()
            .map(|f| {
                (f.parent, {
                    let mut c = f.children.clone();
                    c.sort_unstable();
                    c
                })
            })
            .collect();
        found.sort();
        assert_eq!(found, planted.families, "{f:?}");
        let stats = family_stats(&c, &nodes, &f, 3);
        assert!((stats.membership_fraction - 24.0 * 7.0 / 178.0).abs() < 1e-12);
        assert!(stats.cooccurrence_ratio.unwrap() > 2.0, "{stats:?}");
        let (inside, random) = (stats.block_diagonal_ratio.unwrap(), stats.block_diagonal_ratio_random.unwrap());
        // Noise features and second families put some mass outside the blocks.
        assert!(inside > 0.5 && inside > 10.0 * random, "{stats:?}");
    }

    #[test]
    fn labels_and_the_paper_format_round_trip() {
        let star =
            Cooccurrence::from_pairs(6, 1000, vec![100, 10, 10, 10, 10, 10], (1..6).map(|c| (0, c, 10))).unwrap();
        let mut f = run(&star);
        let label = |index: u32, label: &str| FeatureLabel {
            index,
            label: label.into(),
            reasoning: String::new(),
            f1: None,
            pearson_correlation: None,
            auroc: None,
            density: None,
            phrases: vec![],
            clean: false,
            scores: None,
        };
        let labels = vec![
            label(0, "galaxies; stars"),
            label(1, "dwarf galaxies; stars"),
            label(2, "dwarf galaxies; satellites"),
            label(3, "satellites"),
            label(4, "halo"),
        ];
        label_families(&mut f, &labels, 6);
        assert_eq!(f[0].label, "galaxies; stars (children: dwarf galaxies, satellites)");
        let paper = serde_json::Value::Object(to_paper_json(&f, &labels, 6)).to_string();
        assert!(paper.contains(r#""parent":["galaxies; stars",0]"#), "{paper}");
        assert!(paper.contains(r#"["feature 5",5]"#), "{paper}");
        let back = from_paper_json(paper.as_bytes(), &labels).unwrap();
        assert_eq!((back[0].parent, back[0].children.clone()), (0, f[0].children.clone()));
        // The paper's files put the subtree size where the index belongs: the label resolves it.
        let quirk = r#"{"galaxies; stars": {"parent": ["galaxies; stars", 6], "children": [["halo", 4]]}}"#;
        assert_eq!(from_paper_json(quirk.as_bytes(), &labels).unwrap()[0].parent, 0);
        assert!(from_paper_json(b"[1, 2]", &labels).is_err());
    }
}
