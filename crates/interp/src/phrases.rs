//! Phrases of documents for labelling: simple, case-folded tokenisation with LaTeX and stop
//! words handled, and an index of which uni- and bi-grams occur in which document.
//!
//! Counts are document frequencies (a phrase counts once per document), so one long abstract
//! that repeats a word cannot dominate a label.

use std::collections::HashMap;

/// English function words plus the boilerplate of scientific abstracts ("we propose ... results
/// show"). They never form a phrase and break bigrams.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "among",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "due",
    "during",
    "each",
    "eg",
    "et",
    "al",
    "etc",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "however",
    "ie",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "thus",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "very",
    "via",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "paper",
    "propose",
    "proposed",
    "present",
    "presents",
    "presented",
    "show",
    "shows",
    "shown",
    "result",
    "results",
    "using",
    "use",
    "used",
    "uses",
    "based",
    "new",
    "novel",
    "study",
    "studies",
    "studied",
    "work",
    "approach",
    "find",
    "found",
    "well",
    "two",
    "three",
    "first",
    "second",
    "several",
    "many",
    "various",
    "different",
    "respectively",
    "significantly",
    "significant",
    "particular",
    "including",
    "across",
    "provide",
    "provides",
    "demonstrate",
    "demonstrates",
    "introduce",
    "introduces",
    "investigate",
    "analysis",
    "method",
    "methods",
];

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// A phrase with each word's plural "s" dropped ("dark matter halos" -> "dark matter halo"):
/// a crude fold, for telling variants of one phrase apart from different phrases.
pub fn singular_key(phrase: &str) -> String {
    phrase
        .split(' ')
        .map(|w| if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") { &w[..w.len() - 1] } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes LaTeX: inline and display math (`$...$`, `$$...$$`), `\commands` and escaped symbols
/// (`\%`). Math and commands become phrase breaks; braces become spaces, so the words inside
/// `\emph{dark matter}` are kept.
pub fn strip_latex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let (delimiter, closing) = if rest.starts_with("$$") { (2, "$$") } else { (1, "$") };
        if rest.starts_with('$') {
            match rest[delimiter..].find(closing) {
                // The math and its delimiters become one break.
                Some(p) => {
                    i += delimiter + p + delimiter;
                    out.push_str(" | ");
                }
                None => {
                    i += delimiter;
                    out.push(' ');
                }
            }
        } else if let Some(after) = rest.strip_prefix('\\') {
            let name = after.bytes().take_while(u8::is_ascii_alphabetic).count();
            i += 1 + if name > 0 { name } else { after.chars().next().map_or(0, char::len_utf8) };
            out.push_str(" | ");
        } else {
            let c = rest.chars().next().expect("non-empty");
            i += c.len_utf8();
            out.push(if c == '{' || c == '}' { ' ' } else { c });
        }
    }
    out
}

/// The word sequence of a text: lower-cased words, with `None` where a phrase may not continue
/// (punctuation, math, stop words, numbers, one-letter words). Words keep inner hyphens
/// ("self-supervised").
pub fn words(text: &str) -> Vec<Option<String>> {
    let clean = strip_latex(text);
    let mut out: Vec<Option<String>> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Option<String>>| {
        let w = word.trim_matches('-');
        if !w.is_empty() {
            let keep = w.chars().count() >= 2 && w.chars().any(char::is_alphabetic) && !is_stop_word(w);
            out.push(keep.then(|| w.to_owned()));
        }
        word.clear();
    };
    for c in clean.chars() {
        if c.is_alphanumeric() || (c == '-' && !word.is_empty()) {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
            if !c.is_whitespace() {
                out.push(None);
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The distinct phrases of a text: every kept word and every pair of adjacent kept words.
pub fn phrases(text: &str) -> Vec<String> {
    let words = words(text);
    let mut out: Vec<String> = words.iter().flatten().cloned().collect();
    for pair in words.windows(2) {
        if let [Some(a), Some(b)] = pair {
            out.push(format!("{a} {b}"));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Which phrases occur in which document, over phrases seen in at least `min_documents`
/// documents (rarer ones cannot describe a feature that fires on several documents).
#[derive(Clone, Debug)]
pub struct PhraseIndex {
    pub phrases: Vec<String>,
    /// Documents containing each phrase.
    pub document_frequency: Vec<u32>,
    /// Each document's phrase ids, sorted ascending.
    pub documents: Vec<Vec<u32>>,
}

impl PhraseIndex {
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>, min_documents: u32, mut progress: impl FnMut()) -> Self {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut frequency: Vec<u32> = Vec::new();
        let mut documents: Vec<Vec<u32>> = Vec::new();
        for text in texts {
            let doc: Vec<u32> = phrases(text)
                .into_iter()
                .map(|p| {
                    let id = *ids.entry(p).or_insert_with_key(|p| {
                        names.push(p.clone());
                        frequency.push(0);
                        names.len() as u32 - 1
                    });
                    frequency[id as usize] += 1;
                    id
                })
                .collect();
            documents.push(doc);
            progress();
        }
        // Keep phrases seen often enough, renumbered in alphabetical order (stable output).
        let mut kept: Vec<u32> =
            (0..names.len() as u32).filter(|&i| frequency[i as usize] >= min_documents.max(1)).collect();
        kept.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut remap = vec![u32::MAX; names.len()];
        kept.iter().enumerate().for_each(|(new, &old)| remap[old as usize] = new as u32);
        for doc in &mut documents {
            *doc = doc.iter().map(|&p| remap[p as usize]).filter(|&p| p != u32::MAX).collect();
            doc.sort_unstable();
        }
        Self {
            document_frequency: kept.iter().map(|&i| frequency[i as usize]).collect(),
            phrases: kept.into_iter().map(|i| std::mem::take(&mut names[i as usize])).collect(),
            documents,
        }
    }

    pub fn contains(&self, document: usize, phrase: u32) -> bool {
        self.documents[document].binary_search(&phrase).is_ok()
    }

    /// Total phrase occurrences (document frequencies summed over phrases).
    pub fn total(&self) -> u64 {
        self.document_frequency.iter().map(|&f| f as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latex_math_commands_and_braces_are_handled() {
        assert_eq!(
            phrases("Dark matter at $z \\sim 2$ in \\emph{galaxy clusters}"),
            vec!["clusters", "dark", "dark matter", "galaxy", "galaxy clusters", "matter"]
        );
        // Math breaks a bigram; an unmatched dollar is dropped; display math is skipped whole.
        assert_eq!(phrases("stellar $M_*$ mass"), vec!["mass", "stellar"]);
        assert_eq!(phrases("costs 5$ rather"), vec!["costs", "rather"]);
        assert_eq!(phrases("lensing $$\\kappa = 1$$ shear"), vec!["lensing", "shear"]);
        assert_eq!(phrases("50\\% of {\\it Fermi} sources"), vec!["fermi", "fermi sources", "sources"]);
    }

    #[test]
    fn stop_words_numbers_and_punctuation_break_phrases() {
        assert_eq!(
            phrases("We propose Self-Supervised learning, of 3 graphs."),
            vec!["graphs", "learning", "self-supervised", "self-supervised learning"]
        );
        assert_eq!(words("the 2024 X-ray"), vec![None, None, Some("x-ray".into())]);
        assert!(phrases("").is_empty());
    }

    #[test]
    fn plural_folding() {
        assert_eq!(singular_key("dark matter halos"), "dark matter halo");
        assert_eq!(singular_key("gas mass comets"), "gas mass comet");
    }

    #[test]
    fn index_counts_documents_and_drops_rare_phrases() {
        let texts = ["neural network pruning", "neural network training", "galaxy survey", "neural networks"];
        let index = PhraseIndex::build(texts, 2, || {});
        assert_eq!(index.phrases, vec!["network", "neural", "neural network"]);
        assert_eq!(index.document_frequency, vec![2, 3, 2]);
        assert_eq!(index.documents[2], Vec::<u32>::new());
        assert!(index.contains(0, 2) && !index.contains(3, 2));
        assert_eq!(index.total(), 7);
    }
}
