//! Feature families (arXiv 2408.00657, section 5; the algorithm of the paper's code,
//! `saerch/matrix.py` and `saerch/family.py`): groups of features where a denser parent fires
//! with a set of rarer children, found in the co-occurrence graph. Two methods share the outline
//! below and differ in the details the paper's code fixes ([`FamilyMethod`]).
//!
//! One round: `P[i, j] = C[i, j] / (C[i, i] + 1)` over the candidate features; pairs with
//! `P < threshold` (0.1 in the first round, 0.07 later) are dropped; each kept pair is weighted
//! by `exp(P)`; the maximum spanning forest (Kruskal) is oriented from the denser feature to the
//! rarer one. A root (no parent) with more than two children is a family whose members are all
//! its descendants; inside a family, every child of a family's root that itself has more than
//! two children is a family too (recursively). Then the roots found are removed from the
//! candidates and the next round runs on what is left: the first round plus `repeats` (3).
//! Families with more than three members are kept and near-duplicates (Jaccard of members
//! > 0.6) merged, dropping the smaller.
//!
//! [`FamilyMethod::Paper`] is a literal port of the paper's code: the same families the code
//! would find from the same co-occurrence counts, in the same order. It follows what networkx
//! does with the paper's matrices:
//! - the graph is `from_numpy_array` of the asymmetric `P` (entries below the threshold zeroed):
//!   the non-zero entries are added in row-major order and a later entry overwrites the weight
//!   of an earlier one, so the edge `{i, j}` (`i` before `j` in the node order) weighs `P[j, i]`
//!   when that is at least the threshold, else `P[i, j]`;
//! - `maximum_spanning_tree` is Kruskal's over the edges sorted by weight, heaviest first, with
//!   ties in the order `Graph.edges` lists them (Python's sort is stable, `reverse=True`
//!   included): by the earlier endpoint, then in the order its neighbours were inserted, which
//!   puts the neighbours `j` with `P[i, j]` kept (inserted while row `i` was read) before those
//!   inserted later from row `j`;
//! - an edge of the tree goes from the denser feature to the rarer; on a tie in density, from
//!   the later node to the earlier (the `else` branch of `make_MST`);
//! - roots are taken in node order, then `recursive_subtree` looks inside each (the root's
//!   children with more than two children, recursively), appending to the list it is walking:
//!   the families come in that order, and every root found is removed for the next round. It
//!   finds each nested subtree more than once, and a node with two parents (two denser
//!   neighbours in the tree) under both; the families are a dict keyed by root, so each counts
//!   once, where it was first found;
//! - `deduplicate_families` compares every ordered pair of the families found, dropped ones
//!   included, and drops the smaller of a pair whose Jaccard index exceeds 0.6, or both when
//!   they are the same size.
//!
//! [`FamilyMethod::Readable`] (the default) departs from the paper where the paper's result
//! depends on the arbitrary numbering of the features or on the order of the computation:
//! - `P` is asymmetric and the spanning tree needs one weight per pair: we use
//!   `max(P[i, j], P[j, i]) = C[i, j] / (min(C[i, i], C[j, j]) + 1)`, the co-occurrence seen
//!   from the rarer feature, whatever the two features' indices. (In the paper's graph the
//!   entry visited last wins: which direction counts depends on index order.)
//! - Ties in density orient the edge from the lower index; ties in weight are broken by index
//!   (the paper's follow networkx's edge order, itself set by which entries were zeroed).
//! - "Merging" a near-duplicate drops the smaller family (as the paper's code does), comparing
//!   each family only with the larger ones kept so far: one dropped family does not drop
//!   another, and of two of the same size the one of the earlier round (then the lower parent)
//!   stays.
//! - Families are numbered by round, then size (largest first); the paper's come in the order
//!   its code finds them.
//!
//! Both methods store each family's members densest first (the paper's code lists them in
//! depth-first order), stop early once a later round finds no root (the paper's code runs the
//! same graph again and finds none either), and compute in `f64` (the paper's matrices are
//! numpy `float32`, whose rounding can make nearly equal weights tie: the one difference from
//! the paper's code that the port does not reproduce). The paper ran on clean features only
//! ([`NodeSet::Clean`], [`FamilyParams::paper`]). (The paper's later rounds also keep the
//! matrix diagonal: self-loops, which no spanning tree uses.)
//!
//! A family's `parent_family` is the smallest family of the same round that contains its parent
//! as a member, else the smallest of an earlier round: never a cycle.

use crate::labels::{labels_by_feature, FeatureLabel};
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::error::{Error, Result};
use saescope_core::rng::SeededRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Version of the family method: part of cache keys (bump it when the same inputs would give
/// other families or statistics).
pub const METHOD_VERSION: u32 = 2;

/// Which features the family graph is built on.
#[derive(ts_rs::TS, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeSet {
    /// Every live feature below `max_density`.
    Live,
    /// The paper's choice: only features whose label passed the clean filter.
    Clean,
}

/// How families are found from the co-occurrence graph (see the module documentation).
#[derive(ts_rs::TS, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FamilyMethod {
    /// Ours: one symmetric weight per pair and ties broken by feature index, so the families do
    /// not depend on how the features are numbered.
    #[default]
    Readable,
    /// The paper's code (`saerch/matrix.py`, `saerch/family.py`), literally.
    Paper,
}

impl FamilyMethod {
    /// How the method makes `P` symmetric (the `symmetrise` of [`FamilyParams`]).
    pub fn symmetrise(self) -> &'static str {
        match self {
            FamilyMethod::Readable => "max(P[i,j], P[j,i]) = C[i,j] / (min(C[i,i], C[j,j]) + 1)",
            FamilyMethod::Paper => {
                "P[j,i] for i before j if at least the threshold, else P[i,j] (networkx: the later entry wins)"
            }
        }
    }
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyParams {
    /// The algorithm (absent from files written before there were two: `readable`).
    #[serde(default)]
    pub method: FamilyMethod,
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
            method: FamilyMethod::Readable,
            first_threshold: 0.1,
            later_threshold: 0.07,
            repeats: 3,
            root_min_children: 3,
            min_members: 4,
            merge_jaccard: 0.6,
            nodes: NodeSet::Clean,
            max_density: 0.2,
            symmetrise: FamilyMethod::Readable.symmetrise().into(),
            seed: 0,
        }
    }
}

impl FamilyParams {
    /// These parameters for `labels`: [`NodeSet::Clean`] needs clean labels; without any (a
    /// corpus too small to score its labels) every live feature is a candidate, and `nodes` says so.
    pub fn for_labels(mut self, labels: &[FeatureLabel]) -> Self {
        if self.nodes == NodeSet::Clean && !labels.iter().any(|l| l.clean) {
            self.nodes = NodeSet::Live;
        }
        self
    }

    /// The paper's run: its algorithm ([`FamilyMethod::Paper`]) on clean features, with its
    /// thresholds and sizes (the defaults).
    pub fn paper() -> Self {
        Self {
            method: FamilyMethod::Paper,
            nodes: NodeSet::Clean,
            symmetrise: FamilyMethod::Paper.symmetrise().into(),
            ..Self::default()
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

/// The families of the candidate features `nodes` by `params.method` (see the module
/// documentation), without labels (see [`label_families`]). `progress` is called after each
/// round with its number. [`FamilyMethod::Paper`] takes the nodes in the order given as the
/// graph's node order (a repeated feature counts once); [`family_nodes`] gives them ascending.
pub fn find_families(
    cooc: &Cooccurrence,
    nodes: &[u32],
    params: &FamilyParams,
    progress: impl FnMut(usize),
) -> Result<Vec<Family>> {
    saescope_core::sae::check_features(nodes.iter().copied(), cooc.d_sae)?;
    Ok(match params.method {
        FamilyMethod::Readable => readable_families(cooc, nodes, params, progress),
        FamilyMethod::Paper => paper_families(cooc, nodes, params, progress),
    })
}

/// [`FamilyMethod::Readable`].
fn readable_families(
    cooc: &Cooccurrence,
    nodes: &[u32],
    params: &FamilyParams,
    mut progress: impl FnMut(usize),
) -> Vec<Family> {
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
    merge_and_number(cooc, found, params.merge_jaccard)
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
    number(cooc, kept.into_iter().map(|(c, _)| c).collect())
}

/// The families, numbered in the order given, members densest first, linked to their parent
/// families.
fn number(cooc: &Cooccurrence, found: Vec<Candidate>) -> Vec<Family> {
    let mut families: Vec<Family> = found
        .into_iter()
        .enumerate()
        .map(|(id, mut c)| {
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

/// [`FamilyMethod::Paper`]: the paper's `get_families` (`make_MST` then `subtree_iterate`) and
/// `dedup_and_save_families`. Within a round the graph's nodes are positions in `graph`.
fn paper_families(
    cooc: &Cooccurrence,
    nodes: &[u32],
    params: &FamilyParams,
    mut progress: impl FnMut(usize),
) -> Vec<Family> {
    let mut graph: Vec<u32> = Vec::with_capacity(nodes.len());
    let mut seen = vec![false; cooc.d_sae];
    for &n in nodes {
        if !std::mem::replace(&mut seen[n as usize], true) {
            graph.push(n);
        }
    }
    let mut found: Vec<Candidate> = Vec::new();
    for round in 0..=params.repeats {
        let threshold = if round == 0 { params.first_threshold } else { params.later_threshold };
        let (children, has_parent) = paper_tree(cooc, &graph, threshold);
        let roots = paper_roots(&children, &has_parent, params.root_min_children);
        // `print_subtree` lists a root's descendants; families need more than three.
        for &root in &roots {
            let members = descendants(&children, root);
            if members.len() >= params.min_members {
                let members = members.iter().map(|&m| graph[m as usize]).collect();
                found.push(Candidate { parent: graph[root as usize], members, round });
            }
        }
        progress(round);
        if roots.is_empty() && round > 0 {
            break; // the graph will not change again
        }
        // `delete_top`: every root found, kept as a family or not, leaves the graph.
        let mut is_root = vec![false; graph.len()];
        roots.iter().for_each(|&r| is_root[r as usize] = true);
        graph = graph.iter().zip(is_root).filter(|(_, root)| !root).map(|(&f, _)| f).collect();
    }
    number(cooc, paper_deduplicate(found, params.merge_jaccard))
}

/// The paper's oriented maximum spanning tree over the nodes `graph` (positions): the children
/// of each node in the order networkx lists them, and whether each node has a parent.
fn paper_tree(cooc: &Cooccurrence, graph: &[u32], threshold: f64) -> (Vec<Vec<u32>>, Vec<bool>) {
    let mut position = vec![u32::MAX; cooc.d_sae];
    graph.iter().enumerate().for_each(|(p, &f)| position[f as usize] = p as u32);
    let count = |p: u32| cooc.diagonal[graph[p as usize] as usize];
    // 1. `from_numpy_array` of the thresholded P: the edge {a, b}, a before b, exists when
    // P[a, b] or P[b, a] is kept, and weighs the later entry, P[b, a], unless that one was
    // zeroed. `early` says whether P[a, b] was kept: then b joined a's neighbours while row a
    // was read, before any neighbour that only row b (later) brought in.
    struct Edge {
        a: u32,
        b: u32,
        weight: f64,
        early: bool,
    }
    let mut edges: Vec<Edge> = Vec::new();
    for (i, j, c) in cooc.pairs() {
        let (pi, pj) = (position[i as usize], position[j as usize]);
        if pi == u32::MAX || pj == u32::MAX {
            continue;
        }
        let (a, b) = (pi.min(pj), pi.max(pj));
        let ab = c as f64 / (count(a) as f64 + 1.0);
        let ba = c as f64 / (count(b) as f64 + 1.0);
        let weight = match (ab >= threshold, ba >= threshold) {
            (_, true) => ba,
            (true, false) => ab,
            (false, false) => continue,
        };
        edges.push(Edge { a, b, weight: weight.exp(), early: ab >= threshold });
    }
    // 2. `Graph.edges` order: by the earlier endpoint, then its neighbours in insertion order.
    edges.sort_by_key(|e| (e.a, !e.early, e.b));
    // 3. Kruskal: heaviest first, ties kept in that order (a stable sort, as Python's).
    edges.sort_by(|x, y| y.weight.total_cmp(&x.weight));
    let mut set: Vec<u32> = (0..graph.len() as u32).collect();
    let mut tree: Vec<(u32, u32)> = Vec::new();
    for e in edges {
        let (ra, rb) = (find(&mut set, e.a), find(&mut set, e.b));
        if ra != rb {
            set[ra as usize] = rb;
            tree.push((e.a, e.b));
        }
    }
    // 4. The tree lists its edges the same way: by the earlier endpoint, then in the order
    // Kruskal took them (a stable sort again). `make_MST` orients them in that order, so each
    // node's children come in it.
    tree.sort_by_key(|&(a, _)| a);
    let mut children = vec![Vec::new(); graph.len()];
    let mut has_parent = vec![false; graph.len()];
    for (a, b) in tree {
        let (from, to) = if count(a) > count(b) { (a, b) } else { (b, a) };
        children[from as usize].push(to);
        has_parent[to as usize] = true;
    }
    (children, has_parent)
}

/// The roots of the paper's families in the order `recursive_subtree` finds them first:
/// `level_subtree`'s roots (no parent, enough children) in node order, then, for each in turn,
/// the same order inside it (its children with enough children, recursively). That is the list
/// the paper's loop builds by appending to itself, without its repeats: the loop finds each
/// nested subtree again, and a node with two parents (both denser) under each of them; the
/// paper's families are a dict keyed by root, where a repeat keeps the first one's place.
fn paper_roots(children: &[Vec<u32>], has_parent: &[bool], min_children: usize) -> Vec<u32> {
    let is_root = |n: u32| children[n as usize].len() >= min_children;
    let level: Vec<u32> = (0..children.len() as u32).filter(|&n| !has_parent[n as usize] && is_root(n)).collect();
    let mut order = Vec::new();
    let mut found = vec![false; children.len()];
    let mut pending = vec![level];
    while let Some(list) = pending.pop() {
        // A repeat's subtrees are repeats too.
        let list: Vec<u32> = list.into_iter().filter(|&r| !std::mem::replace(&mut found[r as usize], true)).collect();
        order.extend(&list);
        for &root in list.iter().rev() {
            // `recursive_subtree` looks inside a subtree only if it has more than two nodes.
            if descendants(children, root).len() >= 2 {
                pending.push(children[root as usize].iter().copied().filter(|&c| is_root(c)).collect());
            }
        }
    }
    order
}

/// The paper's `deduplicate_families`: it compares every ordered pair of the families found
/// (keyed by root, one per root), dropped ones included, and drops the smaller of a pair
/// whose members overlap by more than `merge_jaccard`, or both when they are the same size. So
/// a family goes when some other family of at least its size overlaps it that much.
fn paper_deduplicate(found: Vec<Candidate>, merge_jaccard: f64) -> Vec<Candidate> {
    let sorted: Vec<Vec<u32>> = found
        .iter()
        .map(|c| {
            let mut m = c.members.clone();
            m.sort_unstable();
            m
        })
        .collect();
    let dropped: Vec<bool> = (0..found.len())
        .map(|f| {
            (0..found.len()).any(|g| {
                g != f && sorted[g].len() >= sorted[f].len() && jaccard(&sorted[f], &sorted[g]) > merge_jaccard
            })
        })
        .collect();
    found.into_iter().zip(dropped).filter(|(_, d)| !d).map(|(c, _)| c).collect()
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
/// How alike the members of a family are, against random sets of candidate features of the same
/// sizes: is a family more than its size? Means over families (each counts once) of the mean
/// over member pairs, parent included.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coherence {
    /// Cosine of the members' decoder directions.
    pub decoder_cosine: f64,
    pub decoder_cosine_random: f64,
    /// Normalised co-occurrence `C[i, j] / min(C[i, i], C[j, j])`.
    pub cooccurrence: f64,
    pub cooccurrence_random: f64,
}

/// Member pairs a set is measured on at most (drawn at random beyond; every pair below).
const COHERENCE_PAIRS: usize = 2000;
/// Random sets drawn per family.
const COHERENCE_DRAWS: usize = 5;

/// [`Coherence`] of `families` over the candidate features `nodes`, with the decoder `w_dec`
/// (`[d_sae, d_in]`, as `Sae::w_dec`); `None` without families.
pub fn family_coherence(
    w_dec: &[f32],
    d_in: usize,
    cooc: &Cooccurrence,
    nodes: &[u32],
    families: &[Family],
    seed: u64,
) -> Option<Coherence> {
    if families.is_empty() || nodes.len() < 2 {
        return None;
    }
    let row = |j: u32| &w_dec[j as usize * d_in..(j as usize + 1) * d_in];
    let norm: Vec<f64> =
        (0..cooc.d_sae as u32).map(|j| row(j).iter().map(|v| (v * v) as f64).sum::<f64>().sqrt()).collect();
    let cosine = |a: u32, b: u32| {
        let dot: f64 = row(a).iter().zip(row(b)).map(|(x, y)| (x * y) as f64).sum();
        dot / (norm[a as usize] * norm[b as usize]).max(f64::MIN_POSITIVE)
    };
    let mut rng = SeededRng::new(seed);
    let measure = |set: &[u32], rng: &mut SeededRng| {
        let n = set.len();
        let pairs: Vec<(u32, u32)> = if n * (n - 1) / 2 <= COHERENCE_PAIRS {
            (0..n).flat_map(|i| (i + 1..n).map(move |j| (set[i], set[j]))).collect()
        } else {
            (0..COHERENCE_PAIRS)
                .map(|_| {
                    let i = rng.below(n);
                    let j = (i + 1 + rng.below(n - 1)) % n;
                    (set[i], set[j])
                })
                .collect()
        };
        let m = pairs.len().max(1) as f64;
        let decoder = pairs.iter().map(|&(a, b)| cosine(a, b)).sum::<f64>() / m;
        let together = pairs.iter().map(|&(a, b)| normalised(cooc, a, b, cooc.get(a, b))).sum::<f64>() / m;
        (decoder, together)
    };
    let (mut inside, mut random) = ((0.0, 0.0), (0.0, 0.0));
    for f in families {
        let members: Vec<u32> = std::iter::once(f.parent).chain(f.children.iter().copied()).collect();
        let (d, c) = measure(&members, &mut rng);
        inside = (inside.0 + d, inside.1 + c);
        for _ in 0..COHERENCE_DRAWS {
            let drawn: Vec<u32> =
                rng.distinct(nodes.len(), members.len().min(nodes.len())).into_iter().map(|i| nodes[i]).collect();
            let (d, c) = measure(&drawn, &mut rng);
            random = (random.0 + d / COHERENCE_DRAWS as f64, random.1 + c / COHERENCE_DRAWS as f64);
        }
    }
    let n = families.len() as f64;
    Some(Coherence {
        decoder_cosine: inside.0 / n,
        decoder_cosine_random: random.0 / n,
        cooccurrence: inside.1 / n,
        cooccurrence_random: random.1 / n,
    })
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamiliesFile {
    pub params: FamilyParams,
    pub families: Vec<Family>,
    pub stats: FamilyStats,
    /// Absent from files written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coherence: Option<Coherence>,
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
        FamilyParams { nodes: NodeSet::Live, ..FamilyParams::default() }
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
            supporting: vec![],
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

    /// An independent, literal rendering of the paper's code (`saerch/matrix.py`: `make_MST`,
    /// `recursive_subtree`, `subtree_iterate`; `saerch/family.py`: `get_families`,
    /// `dedup_and_save_families`, `deduplicate_families`) over a small emulation of the networkx
    /// 3 calls it makes, done the slow way networkx does them: dense matrices, adjacency lists in
    /// insertion order, the edge list sorted (stably) by weight, subtree graphs copied.
    mod paper_oracle {
        use super::*;
        use std::collections::HashMap;

        /// `networkx.Graph`: nodes 0..n in order, each node's neighbours in insertion order, one
        /// weight per edge (the data dict both directions share).
        pub struct Graph {
            adj: Vec<Vec<usize>>,
            weight: HashMap<(usize, usize), f64>,
        }

        impl Graph {
            fn new(n: usize) -> Self {
                Graph { adj: vec![Vec::new(); n], weight: HashMap::new() }
            }

            /// `Graph.add_edge`: a new neighbour goes last; an existing edge keeps its place and
            /// takes the new weight.
            fn add_edge(&mut self, u: usize, v: usize, w: f64) {
                if !self.adj[u].contains(&v) {
                    self.adj[u].push(v);
                }
                if !self.adj[v].contains(&u) {
                    self.adj[v].push(u);
                }
                self.weight.insert((u.min(v), u.max(v)), w);
            }

            /// `from_numpy_array(A, create_using=nx.Graph())`: `add_nodes_from(range(n))`, then
            /// `add_edges_from` over `zip(*A.nonzero())`, row-major.
            pub fn from_numpy_array(a: &[Vec<f64>]) -> Self {
                let mut g = Graph::new(a.len());
                for (u, row) in a.iter().enumerate() {
                    for (v, &x) in row.iter().enumerate() {
                        if x != 0.0 {
                            g.add_edge(u, v, x);
                        }
                    }
                }
                g
            }

            /// `Graph.edges(data=True)`: for each node in order, its neighbours in insertion
            /// order that were not listed as nodes before it.
            fn edges(&self) -> Vec<(usize, usize, f64)> {
                let mut seen = vec![false; self.adj.len()];
                let mut out = Vec::new();
                for (n, nbrs) in self.adj.iter().enumerate() {
                    for &nbr in nbrs {
                        if !seen[nbr] {
                            out.push((n, nbr, self.weight[&(n.min(nbr), n.max(nbr))]));
                        }
                    }
                    seen[n] = true;
                }
                out
            }
        }

        fn root(parent: &[usize], mut x: usize) -> usize {
            while parent[x] != x {
                x = parent[x];
            }
            x
        }

        /// `maximum_spanning_tree(G, algorithm='kruskal')`: `kruskal_mst_edges` sorts
        /// `(weight, u, v, d)` with `sorted(..., key=itemgetter(0), reverse=True)` (stable: equal
        /// weights keep the edge order), takes each edge joining two components, and the tree is
        /// a new Graph with G's nodes and `add_edges_from` of those edges in that order.
        pub fn maximum_spanning_tree(g: &Graph) -> Graph {
            let mut open: Vec<(f64, usize, usize)> = g.edges().into_iter().map(|(u, v, w)| (w, u, v)).collect();
            open.sort_by(|x, y| y.0.partial_cmp(&x.0).expect("no NaN"));
            let mut parent: Vec<usize> = (0..g.adj.len()).collect();
            let mut tree = Graph::new(g.adj.len());
            for (w, u, v) in open {
                let (ru, rv) = (root(&parent, u), root(&parent, v));
                if ru != rv {
                    tree.add_edge(u, v, w);
                    parent[ru] = rv;
                }
            }
            tree
        }

        /// `networkx.DiGraph`: nodes in insertion order, successors in insertion order.
        #[derive(Clone)]
        pub struct DiGraph {
            nodes: Vec<usize>,
            succ: HashMap<usize, Vec<usize>>,
            pred: HashMap<usize, Vec<usize>>,
        }

        impl DiGraph {
            fn new() -> Self {
                DiGraph { nodes: Vec::new(), succ: HashMap::new(), pred: HashMap::new() }
            }

            fn add_node(&mut self, n: usize) {
                if !self.succ.contains_key(&n) {
                    self.nodes.push(n);
                    self.succ.insert(n, Vec::new());
                    self.pred.insert(n, Vec::new());
                }
            }

            fn add_edge(&mut self, u: usize, v: usize) {
                self.add_node(u);
                self.add_node(v);
                if !self.succ[&u].contains(&v) {
                    self.succ.get_mut(&u).unwrap().push(v);
                    self.pred.get_mut(&v).unwrap().push(u);
                }
            }

            fn remove_node(&mut self, n: usize) {
                self.nodes.retain(|&m| m != n);
                for s in self.succ.remove(&n).unwrap() {
                    self.pred.get_mut(&s).unwrap().retain(|&m| m != n);
                }
                for p in self.pred.remove(&n).unwrap() {
                    self.succ.get_mut(&p).unwrap().retain(|&m| m != n);
                }
            }

            fn in_degree(&self, n: usize) -> usize {
                self.pred[&n].len()
            }

            fn out_degree(&self, n: usize) -> usize {
                self.succ[&n].len()
            }

            fn number_of_nodes(&self) -> usize {
                self.nodes.len()
            }

            /// `nx.dfs_tree(G, source)`: the source, then `dfs_edges` (an iterative depth-first
            /// search over successors in order) adding each new node as it is reached.
            fn dfs_tree(&self, source: usize) -> DiGraph {
                let mut t = DiGraph::new();
                t.add_node(source);
                let mut visited = vec![source];
                // The stack holds (node, how many of its successors were looked at); a node
                // whose successors are all visited leaves it (the `for ... else: pop`).
                let mut stack = vec![(source, 0)];
                while let Some((parent, next)) = stack.pop() {
                    let children = &self.succ[&parent];
                    if let Some(k) = children[next..].iter().position(|c| !visited.contains(c)) {
                        let child = children[next + k];
                        t.add_edge(parent, child);
                        visited.push(child);
                        stack.push((parent, next + k + 1));
                        stack.push((child, 0));
                    }
                }
                t
            }
        }

        /// `make_MST(mat, clean_results)`: the tree, each edge `(u, v)` as `G_tree.edges` lists
        /// it made `u -> v` if `node_density[u] > node_density[v]`, else `v -> u`.
        fn make_mst(mat: &[Vec<f64>], node_density: &[f64]) -> DiGraph {
            let tree = maximum_spanning_tree(&Graph::from_numpy_array(mat));
            let mut directed = DiGraph::new();
            (0..mat.len()).for_each(|n| directed.add_node(n));
            for (u, v, _) in tree.edges() {
                if node_density[u] > node_density[v] {
                    directed.add_edge(u, v);
                } else {
                    directed.add_edge(v, u);
                }
            }
            directed
        }

        /// `level_subtree`: (root, `dfs_tree` from it) for each node with in-degree 0 and
        /// out-degree > 2 (`min_children - 1`), in node order.
        fn level_subtree(g: &DiGraph, min_children: usize) -> Vec<(usize, DiGraph)> {
            g.nodes
                .iter()
                .filter(|&&n| g.in_degree(n) == 0 && g.out_degree(n) >= min_children)
                .map(|&n| (n, g.dfs_tree(n)))
                .collect()
        }

        /// `recursive_subtree`, whose `for subtree in subtrees` also walks the subtrees that its
        /// `subtrees += ...` appends while it runs.
        fn recursive_subtree(g: &DiGraph, min_children: usize) -> Vec<(usize, DiGraph)> {
            let mut subtrees = level_subtree(g, min_children);
            let mut k = 0;
            while k < subtrees.len() {
                if subtrees[k].1.number_of_nodes() > 2 {
                    let mut without_root = subtrees[k].1.clone();
                    without_root.remove_node(subtrees[k].0);
                    let more = recursive_subtree(&without_root, min_children);
                    subtrees.extend(more);
                }
                k += 1;
            }
            subtrees
        }

        /// `get_norm_cooc(mat, norms, labels, threshold)`: `mat / (norms + 1)[:, None]`
        /// restricted to `ids`, entries below the threshold zeroed, the rest `exp`ed.
        fn get_norm_cooc(c: &[Vec<f64>], ids: &[usize], threshold: f64) -> Vec<Vec<f64>> {
            ids.iter()
                .map(|&i| {
                    ids.iter()
                        .map(|&j| {
                            let p = c[i][j] / (c[i][i] + 1.0);
                            if p < threshold {
                                0.0
                            } else {
                                p.exp()
                            }
                        })
                        .collect()
                })
                .collect()
        }

        /// The paper's families from `cooc` over `nodes` (in that order): (root, members in the
        /// code's order, round), in the order of the JSON file it writes.
        pub fn families(cooc: &Cooccurrence, nodes: &[u32], params: &FamilyParams) -> Vec<(u32, Vec<u32>, usize)> {
            // The dense co-occurrence of all features and the node densities.
            let d = cooc.d_sae as u32;
            let c: Vec<Vec<f64>> = (0..d).map(|i| (0..d).map(|j| cooc.get(i, j) as f64).collect()).collect();
            let density = |f: usize| (cooc.diagonal[f] as f64 / cooc.documents as f64).log10();
            // `clean_labels`: the node set, an ordered dict.
            let mut labels: Vec<usize> = Vec::new();
            for &n in nodes {
                if !labels.contains(&(n as usize)) {
                    labels.push(n as usize);
                }
            }
            // `get_families`: round 0 on `clean_cooc` (threshold 0.1, diagonal zeroed), then
            // `subtree_iterate`: `n` more rounds, each `delete_top` (threshold 0.07, diagonal
            // kept) on the labels without the roots of the round before.
            let mut all_subtrees: Vec<Vec<(usize, Vec<usize>)>> = Vec::new();
            for round in 0..=params.repeats {
                let mut mat = get_norm_cooc(
                    &c,
                    &labels,
                    if round == 0 { params.first_threshold } else { params.later_threshold },
                );
                if round == 0 {
                    (0..labels.len()).for_each(|i| mat[i][i] = 0.0);
                }
                let node_density: Vec<f64> = labels.iter().map(|&f| density(f)).collect();
                let tree = make_mst(&mat, &node_density);
                // Relabelled to features: `relabel_nodes` keeps the node and successor order.
                let subtrees: Vec<(usize, Vec<usize>)> = recursive_subtree(&tree, params.root_min_children)
                    .into_iter()
                    .map(|(r, t)| (labels[r], t.nodes.iter().map(|&n| labels[n]).collect()))
                    .collect();
                for (r, _) in &subtrees {
                    if let Some(k) = labels.iter().position(|l| l == r) {
                        labels.remove(k);
                    }
                }
                all_subtrees.push(subtrees);
            }
            // `dedup_and_save_families`: a dict keyed by root; `print_subtree` lists the
            // subtree's nodes but the root; more than three make a family.
            let mut families: Vec<(usize, Vec<usize>, usize)> = Vec::new();
            for (round, iteration) in all_subtrees.iter().enumerate() {
                for (r, tree_nodes) in iteration {
                    let children: Vec<usize> = tree_nodes.iter().copied().filter(|n| n != r).collect();
                    if children.len() >= params.min_members {
                        match families.iter_mut().find(|f| f.0 == *r) {
                            Some(f) => *f = (*r, children, round),
                            None => families.push((*r, children, round)),
                        }
                    }
                }
            }
            let kept = deduplicate_families(
                &families.iter().map(|f| (f.0, f.1.clone())).collect::<Vec<_>>(),
                params.merge_jaccard,
            );
            families
                .into_iter()
                .filter(|f| kept.contains(&f.0))
                .map(|(r, m, round)| (r as u32, m.into_iter().map(|x| x as u32).collect(), round))
                .collect()
        }

        /// `deduplicate_families`: the roots kept.
        pub fn deduplicate_families(families: &[(usize, Vec<usize>)], merge_jaccard: f64) -> Vec<usize> {
            let mut clean: Vec<usize> = families.iter().map(|f| f.0).collect();
            for (family, children) in families {
                for (family2, children2) in families {
                    if family != family2 {
                        let intersection = children.iter().filter(|c| children2.contains(c)).count();
                        let union = children.len() + children2.len() - intersection;
                        if intersection as f64 / union as f64 > merge_jaccard {
                            // `clean_families.pop(...)` in a try: popping twice does nothing.
                            let pop = if children.len() > children2.len() { family2 } else { family };
                            clean.retain(|f| f != pop);
                        }
                    }
                }
            }
            clean
        }
    }

    /// (parent, members densest first, round) of each family.
    fn summary(f: &[Family]) -> Vec<(u32, Vec<u32>, usize)> {
        f.iter().map(|f| (f.parent, f.children.clone(), f.round)).collect()
    }

    /// `FamilyMethod::Paper` on `nodes` equals the oracle's families (members ordered densest
    /// first, as `Family` stores them); returns them.
    fn paper_matches_oracle(c: &Cooccurrence, nodes: &[u32], params: &FamilyParams) -> Vec<Family> {
        let ours = find_families(c, nodes, params, |_| {}).unwrap();
        let oracle: Vec<(u32, Vec<u32>, usize)> = paper_oracle::families(c, nodes, params)
            .into_iter()
            .map(|(r, mut m, round)| {
                m.sort_by(|&a, &b| c.diagonal[b as usize].cmp(&c.diagonal[a as usize]).then(a.cmp(&b)));
                (r, m, round)
            })
            .collect();
        assert_eq!(summary(&ours), oracle, "nodes {nodes:?}");
        assert!(ours.iter().enumerate().all(|(k, f)| f.id == k));
        ours
    }

    #[test]
    fn planted_families_are_more_coherent_than_random_sets() {
        let planted = saescope_core::synth::planted_families(12, 6, 10, 4000, 3).unwrap();
        let c = saescope_core::cooccurrence::cooccurrence(&planted.codes).unwrap();
        let nodes = family_nodes(&c, &[], &params());
        let found = find_families(&c, &nodes, &params(), |_| {}).unwrap();
        // Decoder directions: each family's members share a direction (plus noise), others do not.
        let d_in = 16;
        let mut rng = SeededRng::new(1);
        let mut w_dec = vec![0f32; c.d_sae * d_in];
        for (j, row) in w_dec.chunks_mut(d_in).enumerate() {
            row.iter_mut().for_each(|v| *v = rng.normal() * 0.1);
            if let Some(f) = found.iter().find(|f| f.parent as usize == j || f.children.contains(&(j as u32))) {
                row[f.id % d_in] += 1.0;
            }
        }
        let coherence = family_coherence(&w_dec, d_in, &c, &nodes, &found, 0).unwrap();
        assert!(coherence.decoder_cosine > coherence.decoder_cosine_random + 0.3, "{coherence:?}");
        assert!(coherence.cooccurrence > 2.0 * coherence.cooccurrence_random, "{coherence:?}");
        assert!(family_coherence(&w_dec, d_in, &c, &nodes, &[], 0).is_none());
    }

    #[test]
    fn the_method_defaults_to_readable_and_old_files_parse() {
        assert_eq!(FamilyParams::default().method, FamilyMethod::Readable);
        let mut json = serde_json::to_value(FamilyParams::default()).unwrap();
        assert_eq!(json["method"], "readable");
        json.as_object_mut().unwrap().remove("method");
        let old: FamilyParams = serde_json::from_value(json).unwrap();
        assert_eq!(old, FamilyParams::default());
        let paper = serde_json::to_value(FamilyParams::paper()).unwrap();
        assert_eq!((&paper["method"], &paper["nodes"]), (&"paper".into(), &"clean".into()));
        assert_eq!(serde_json::from_value::<FamilyParams>(paper).unwrap(), FamilyParams::paper());
    }

    #[test]
    fn paper_weighs_each_edge_by_the_later_matrix_entry() {
        // Children 1..=4 (20 documents each) fire with 5 in all their documents and with 0 in
        // half; 0 and 5 are equally dense. The edge {0, x} weighs P[x, 0] = 10/21 and the edge
        // {x, 5} weighs P[5, x] = 20/51 (the later entries): 0 takes the children. Readable
        // weighs {x, 5} by max(P) = 20/21: 5 takes them. One round, to see the tree alone.
        let once = FamilyParams { repeats: 0, ..FamilyParams::paper() };
        let mut pairs: Vec<(u32, u32, u32)> = (1..5).map(|x| (x, 5, 20)).collect();
        pairs.extend((1..5).map(|x| (0, x, 10)));
        let diag = vec![50, 20, 20, 20, 20, 50];
        let c = Cooccurrence::from_pairs(6, 1000, diag.clone(), pairs).unwrap();
        let f = paper_matches_oracle(&c, &all(&c), &once);
        assert_eq!(summary(&f), vec![(0, vec![1, 2, 3, 4], 0)]);
        let readable = FamilyParams { repeats: 0, ..params() };
        assert_eq!(summary(&find_families(&c, &all(&c), &readable, |_| {}).unwrap()), vec![(5, vec![1, 2, 3, 4], 0)]);
        // The same counts with 0 and 5 swapped: {0, x} now weighs P[x, 0] = 20/21 and {x, 5}
        // P[5, x] = 10/51, and 0 takes the children again: whichever comes first wins.
        let swap = |x: u32| if x == 0 || x == 5 { 5 - x } else { x };
        let swapped =
            Cooccurrence::from_pairs(6, 1000, diag, c.pairs().map(|(i, j, n)| (swap(i), swap(j), n))).unwrap();
        let f = paper_matches_oracle(&swapped, &all(&swapped), &once);
        assert_eq!(summary(&f), vec![(0, vec![1, 2, 3, 4], 0)]);
        // With the later rounds, 5 takes the children once 0 is gone, a family of the same
        // size as 0's: the paper's deduplication drops both.
        assert!(paper_matches_oracle(&c, &all(&c), &FamilyParams::paper()).is_empty());
    }

    #[test]
    fn paper_keeps_an_edge_whose_later_entry_is_below_the_threshold() {
        // 5 is dense (1000 documents); 0..=4 (10 documents each) fire with it 5 times: P[x, 5]
        // = 5/11 is kept but P[5, x] = 5/1001 is zeroed, and from_numpy_array skips zeros: the
        // edges keep the earlier entry.
        let c = Cooccurrence::from_pairs(6, 5000, vec![10, 10, 10, 10, 10, 1000], (0..5).map(|x| (x, 5, 5))).unwrap();
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        assert_eq!(summary(&f), vec![(5, vec![0, 1, 2, 3, 4], 0)]);
    }

    #[test]
    fn paper_breaks_weight_ties_in_networkx_edge_order() {
        // 0 (99 documents) has leaves 3, 4, 5. The triangle 0, 1, 2: {1, 2} weighs P[2, 1] =
        // 19/48 and is taken first; {0, 1} and {0, 2} both weigh 0.25 (P[1, 0] = 5/20 and P[2, 0]
        // = 12/48). P[0, 1] = 5/100 is below the threshold, so 1 joined 0's neighbours only when
        // row 1 was read, after 2 (row 0, P[0, 2] = 0.12): {0, 2} is listed first and taken,
        // making 0 -> 2 -> 1. Taking {0, 1} (index order) would make 0 -> 1 <- 2.
        let pairs = vec![(0, 1, 5), (0, 2, 12), (1, 2, 19), (0, 3, 15), (0, 4, 15), (0, 5, 15)];
        let c = Cooccurrence::from_pairs(6, 1000, vec![99, 19, 47, 15, 15, 15], pairs).unwrap();
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        assert_eq!(summary(&f), vec![(0, vec![2, 1, 3, 4, 5], 0)]);
    }

    #[test]
    fn paper_orients_density_ties_from_the_later_node() {
        // Equally dense: the hub 5 is the parent of 0..=4 because it comes later; Readable makes
        // each of them its parent and finds nothing. The hub 0 of the mirror image is nobody's
        // parent.
        let diag = vec![10; 6];
        let c = Cooccurrence::from_pairs(6, 1000, diag.clone(), (0..5).map(|x| (x, 5, 8))).unwrap();
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        assert_eq!(summary(&f), vec![(5, vec![0, 1, 2, 3, 4], 0)]);
        assert!(run(&c).is_empty());
        let mirror = Cooccurrence::from_pairs(6, 1000, diag, (1..6).map(|x| (0, x, 8))).unwrap();
        assert!(paper_matches_oracle(&mirror, &all(&mirror), &FamilyParams::paper()).is_empty());
    }

    /// Co-occurrence of a planted tree: each child fires with its parent in half its documents,
    /// and with nothing else.
    fn tree_cooccurrence(density: &[u32], edges: &[(u32, u32)]) -> Cooccurrence {
        let pairs = edges.iter().map(|&(p, c)| (p, c, density[c as usize] / 2));
        Cooccurrence::from_pairs(density.len(), 10_000, density.to_vec(), pairs).unwrap()
    }

    #[test]
    fn paper_lists_the_subtrees_its_recursion_appends() {
        // Roots 0 and 20. 0 -> 13 (nested) -> 12 (nested again) -> 14..=17; 13 -> 18, 19; 0 ->
        // 1..=4. 20 -> 5 (nested) -> 6..=9; 20 -> 10, 11. recursive_subtree finds 0 and 20, then
        // inside 0: 13, then inside 13: 12, then inside 20: 5.
        let mut density = vec![10u32; 21];
        for (f, d) in [(0, 120), (13, 60), (12, 30), (20, 60), (5, 30)] {
            density[f] = d;
        }
        let mut edges: Vec<(u32, u32)> = vec![(0, 13), (13, 12), (13, 18), (13, 19), (20, 5), (20, 10), (20, 11)];
        edges.extend((1..5).map(|c| (0, c)));
        edges.extend((14..18).map(|c| (12, c)));
        edges.extend((6..10).map(|c| (5, c)));
        let c = tree_cooccurrence(&density, &edges);
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        let parents: Vec<(u32, usize)> = f.iter().map(|f| (f.parent, f.children.len())).collect();
        assert_eq!(parents, vec![(0, 12), (20, 7), (13, 7), (12, 4), (5, 4)]);
        let links: Vec<Option<usize>> = f.iter().map(|f| f.parent_family).collect();
        assert_eq!(links, vec![None, None, Some(0), Some(2), Some(1)]);
        // Readable finds the same families, numbered by size.
        let mut readable: Vec<u32> = run(&c).iter().map(|f| f.parent).collect();
        assert_eq!(readable, vec![0, 13, 20, 5, 12]);
        readable.sort_unstable();
        let mut ours: Vec<u32> = f.iter().map(|f| f.parent).collect();
        ours.sort_unstable();
        assert_eq!(ours, readable);
    }

    #[test]
    fn paper_finds_a_subtree_under_two_roots_once() {
        // 2 is the child of both 0 and 1 (denser), with leaves 7..=10; 0 has leaves 3, 4 and 1
        // has 5, 6. recursive_subtree finds 2 inside 0 and again inside 1: one family.
        let mut density = vec![10u32; 11];
        density[..3].copy_from_slice(&[100, 100, 40]);
        let mut edges: Vec<(u32, u32)> = vec![(0, 2), (1, 2), (0, 3), (0, 4), (1, 5), (1, 6)];
        edges.extend((7..11).map(|c| (2, c)));
        let c = tree_cooccurrence(&density, &edges);
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        let parents: Vec<(u32, usize)> = f.iter().map(|f| (f.parent, f.children.len())).collect();
        assert_eq!(parents, vec![(0, 7), (1, 7), (2, 4)]);
    }

    #[test]
    fn paper_takes_children_in_the_order_the_tree_lists_its_edges() {
        // 1 -> 0 (nested, leaves 3..=6), 1 -> 2 (nested, leaves 7..=10), 1 -> 11. Kruskal takes
        // {1, 2} (P[2, 1] = 50/101) first and {0, 1} (P[1, 0] = 30/201) last, but the tree lists
        // {0, 1} at node 0, before node 1's edges: the family of 0 comes before that of 2.
        let mut density = vec![10u32; 12];
        density[..3].copy_from_slice(&[60, 200, 100]);
        let mut edges: Vec<(u32, u32)> = vec![(1, 0), (1, 2), (1, 11)];
        edges.extend((3..7).map(|c| (0, c)));
        edges.extend((7..11).map(|c| (2, c)));
        let c = tree_cooccurrence(&density, &edges);
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        let parents: Vec<u32> = f.iter().map(|f| f.parent).collect();
        assert_eq!(parents, vec![1, 0, 2]);
    }

    #[test]
    fn paper_drops_both_near_duplicates_of_the_same_size() {
        // Round 0: 0 -> 1..=5 (6 takes one of 2..=5 and 7: two children, no root). Round 1,
        // without 0: 6 -> 2..=5, 7. Both have five members and share four (Jaccard 4/6).
        let mut pairs: Vec<(u32, u32, u32)> = (1..6).map(|x| (0, x, 18)).collect();
        pairs.extend((2..6).map(|x| (6, x, 6)));
        pairs.push((6, 7, 18));
        let c = Cooccurrence::from_pairs(8, 1000, vec![100, 20, 20, 20, 20, 20, 60, 20], pairs).unwrap();
        let keep_both = FamilyParams { merge_jaccard: 0.7, ..FamilyParams::paper() };
        let f = paper_matches_oracle(&c, &all(&c), &keep_both);
        assert_eq!(summary(&f), vec![(0, vec![1, 2, 3, 4, 5], 0), (6, vec![2, 3, 4, 5, 7], 1)]);
        assert!(paper_matches_oracle(&c, &all(&c), &FamilyParams::paper()).is_empty());
        // Readable keeps the one of the earlier round.
        assert_eq!(summary(&run(&c)), vec![(0, vec![1, 2, 3, 4, 5], 0)]);
    }

    #[test]
    fn paper_deduplication_lets_a_dropped_family_drop_another() {
        // A (10 members) overlaps B (7) by 0.7, B overlaps C (6) by 5/8, A and C only by 5/11:
        // B goes because of A, and C because of B, gone or not.
        let found = vec![
            Candidate { parent: 100, members: (1..=10).collect(), round: 0 },
            Candidate { parent: 101, members: (1..=7).collect(), round: 1 },
            Candidate { parent: 102, members: vec![1, 2, 3, 4, 5, 11], round: 2 },
            Candidate { parent: 103, members: vec![20, 21, 22, 23], round: 2 },
        ];
        let oracle_input: Vec<(usize, Vec<usize>)> =
            found.iter().map(|c| (c.parent as usize, c.members.iter().map(|&m| m as usize).collect())).collect();
        assert_eq!(paper_oracle::deduplicate_families(&oracle_input, 0.6), vec![100, 103]);
        let kept: Vec<u32> = paper_deduplicate(found, 0.6).iter().map(|c| c.parent).collect();
        assert_eq!(kept, vec![100, 103]);
    }

    #[test]
    fn paper_rounds_use_their_thresholds_and_remove_all_roots() {
        // P[x, 0] = 2/25 = 0.08: below 0.1, above 0.07; P[0, x] = 2/501 is zeroed in both.
        let c = Cooccurrence::from_pairs(6, 1000, vec![500, 24, 24, 24, 24, 24], (1..6).map(|i| (0, i, 2))).unwrap();
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        assert_eq!(summary(&f), vec![(0, vec![1, 2, 3, 4, 5], 1)]);
        // 0 -> 1, 2, 3 is a root but not a family (three members). 1 fires with 4..=7 at
        // P[x, 1] = 2/25, below the first threshold. Round 1 runs without 0, removed although it
        // made no family: 1 -> 4..=7 is a family of its own (with 0 it would hang below 0).
        let mut pairs: Vec<(u32, u32, u32)> = (1..4).map(|x| (0, x, 10)).collect();
        pairs.extend((4..8).map(|x| (1, x, 2)));
        let c = Cooccurrence::from_pairs(8, 1000, vec![100, 50, 10, 10, 24, 24, 24, 24], pairs).unwrap();
        let f = paper_matches_oracle(&c, &all(&c), &FamilyParams::paper());
        assert_eq!(summary(&f), vec![(1, vec![4, 5, 6, 7], 1)]);
        let once = FamilyParams { repeats: 0, ..FamilyParams::paper() };
        assert!(paper_matches_oracle(&c, &all(&c), &once).is_empty());
    }

    #[test]
    fn paper_matches_the_oracle_on_planted_codes() {
        for (families, children, noise, seed) in [(24, 6, 10, 7), (8, 4, 6, 3), (5, 9, 0, 11)] {
            let planted = saescope_core::synth::planted_families(families, children, noise, 4000, seed).unwrap();
            let c = saescope_core::cooccurrence::cooccurrence(&planted.codes).unwrap();
            let nodes = family_nodes(&c, &[], &params());
            let f = paper_matches_oracle(&c, &nodes, &FamilyParams::paper());
            assert!(!f.is_empty(), "{families} planted families");
            // A second numbering of the graph: the nodes in reverse order.
            let reversed: Vec<u32> = nodes.iter().rev().copied().collect();
            let backwards = paper_matches_oracle(&c, &reversed, &FamilyParams::paper());
            assert_ne!(summary(&f), summary(&backwards), "the paper's families depend on the node order");
            // A repeated node keeps its first place.
            let repeated = [nodes.clone(), reversed].concat();
            assert_eq!(summary(&find_families(&c, &repeated, &FamilyParams::paper(), |_| {}).unwrap()), summary(&f));
        }
    }

    /// On a real bundle's codes and labels (`SAESCOPE_FAMILY_BUNDLE`, a bundle folder such as the
    /// demo's): `cargo test -p saescope-interp --release -- --ignored real_codes --nocapture`.
    #[test]
    #[ignore = "needs a built bundle: SAESCOPE_FAMILY_BUNDLE=target/browser-test-demo"]
    fn paper_matches_the_oracle_on_real_codes() {
        use saescope_format::prelude::*;
        let dir = std::path::PathBuf::from(std::env::var("SAESCOPE_FAMILY_BUNDLE").expect("SAESCOPE_FAMILY_BUNDLE"));
        let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
        let labels = crate::labels::parse_labels(&read("labels.json")).unwrap();
        let d_sae = labels.len();
        let codes =
            saescope_core::SparseCodes::from_npy(&read("codes/indices.npy"), &read("codes/values.npy"), d_sae).unwrap();
        let c = saescope_core::cooccurrence::cooccurrence(&codes).unwrap();
        for nodes in [NodeSet::Clean, NodeSet::Live] {
            let params = FamilyParams { nodes, ..FamilyParams::paper() };
            let f = paper_matches_oracle(&c, &family_nodes(&c, &labels, &params), &params);
            println!("{nodes:?}: {} families, identical to the oracle's", f.len());
        }
    }

    #[test]
    fn paper_matches_the_oracle_on_random_counts() {
        // Small counts make ties in weight and density common.
        let mut rng = SeededRng::new(5);
        let mut nonempty = 0;
        for case in 0..1000 {
            let d = 6 + rng.below(22);
            let diagonal: Vec<u32> = (0..d).map(|_| 1 + rng.below(30) as u32).collect();
            let mut pairs = Vec::new();
            for i in 0..d as u32 {
                for j in i + 1..d as u32 {
                    if rng.uniform() < 0.35 {
                        let most = diagonal[i as usize].min(diagonal[j as usize]);
                        pairs.push((i, j, 1 + rng.below(most as usize) as u32));
                    }
                }
            }
            let c = Cooccurrence::from_pairs(d, 200, diagonal, pairs).unwrap();
            let mut nodes: Vec<u32> = (0..d as u32).filter(|_| rng.uniform() < 0.9).collect();
            if case % 2 == 1 {
                let order = rng.distinct(nodes.len(), nodes.len());
                nodes = order.into_iter().map(|k| nodes[k]).collect();
            }
            let params =
                FamilyParams { root_min_children: 2 + case % 3, min_members: 3 + case % 2, ..FamilyParams::paper() };
            if !paper_matches_oracle(&c, &nodes, &params).is_empty() {
                nonempty += 1;
            }
        }
        assert!(nonempty > 400, "{nonempty} of 1000 cases have families");
    }
}
