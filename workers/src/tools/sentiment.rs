//! Lexicon-based sentiment analysis (the seed's example tool). Word valences in -4..=4 in the style of
//! AFINN/VADER, with negation ("not good"), intensifiers ("very good") and contrast ("ok, but awful":
//! the clause after "but" weighs more). Deterministic and fast; no model download.

use super::{Tool, ToolContext, ToolFailure, args};
use crate::error::InputError;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

pub struct Sentiment;

#[async_trait]
impl Tool for Sentiment {
    fn check_arguments(&self, arguments: &Value) -> Result<(), InputError> {
        args::only_known(arguments, &["text"])?;
        let text = args::required_str(arguments, "text")?;
        if text.trim().is_empty() {
            return Err(InputError::new(args::field("text"), "must not be blank"));
        }
        Ok(())
    }

    async fn run(&self, arguments: Value, _context: ToolContext) -> Result<Value, ToolFailure> {
        self.check_arguments(&arguments)
            .map_err(|e| ToolFailure::new(e.to_string()))?;
        let text =
            args::required_str(&arguments, "text").map_err(|e| ToolFailure::new(e.to_string()))?;
        serde_json::to_value(analyze(text)).map_err(|e| ToolFailure::new(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// "positive", "negative" or "neutral".
    pub sentiment: &'static str,
    /// Normalized to -1..=1.
    pub score: f64,
    /// Sum of the adjusted word valences.
    pub raw_score: f64,
    pub positive_words: Vec<String>,
    pub negative_words: Vec<String>,
    pub token_count: usize,
}

/// Neutral band of the normalized score, as in VADER.
const NEUTRAL_BAND: f64 = 0.05;
/// Normalization constant of VADER's `score / sqrt(score^2 + alpha)`.
const ALPHA: f64 = 15.0;
/// How many following words a negation reaches.
const NEGATION_SPAN: usize = 3;

pub fn analyze(text: &str) -> Analysis {
    let tokens = tokenize(text);
    let but_at = tokens
        .iter()
        .rposition(|t| t == "but" || t == "however" || t == "although");
    let mut raw_score = 0.0;
    let mut positive_words = Vec::new();
    let mut negative_words = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Some(valence) = valence(token) else {
            continue;
        };
        let mut weight = 1.0;
        let window = &tokens[i.saturating_sub(NEGATION_SPAN)..i];
        if window.iter().filter(|t| is_negation(t)).count() % 2 == 1 {
            // Negation flips and dampens, as "not good" is milder than "bad".
            weight *= -0.75;
        }
        if let Some(prev) = i.checked_sub(1).map(|j| tokens[j].as_str()) {
            weight *= intensity(prev);
        }
        if let Some(b) = but_at {
            weight *= if i < b { 0.5 } else { 1.5 };
        }
        let adjusted = valence * weight;
        raw_score += adjusted;
        if adjusted > 0.0 {
            positive_words.push(token.clone());
        } else if adjusted < 0.0 {
            negative_words.push(token.clone());
        }
    }
    let score = raw_score / (raw_score * raw_score + ALPHA).sqrt();
    let score = (score * 1000.0).round() / 1000.0;
    let sentiment = if score >= NEUTRAL_BAND {
        "positive"
    } else if score <= -NEUTRAL_BAND {
        "negative"
    } else {
        "neutral"
    };
    Analysis {
        sentiment,
        score,
        raw_score: (raw_score * 1000.0).round() / 1000.0,
        positive_words,
        negative_words,
        token_count: tokens.len(),
    }
}

fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace("n't", " not")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|t| t.trim_matches('\'').to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn is_negation(token: &str) -> bool {
    matches!(
        token,
        "not" | "no" | "never" | "neither" | "nor" | "without" | "hardly" | "barely" | "cannot"
    )
}

fn intensity(token: &str) -> f64 {
    match token {
        "very" | "really" | "extremely" | "incredibly" | "absolutely" | "totally" | "so"
        | "truly" | "super" => 1.5,
        "slightly" | "somewhat" | "barely" | "kinda" | "fairly" | "mildly" => 0.5,
        _ => 1.0,
    }
}

fn valence(word: &str) -> Option<f64> {
    LEXICON
        .binary_search_by(|(w, _)| (*w).cmp(word))
        .ok()
        .map(|i| LEXICON[i].1)
}

/// Sorted by word (checked by a test) for binary search.
const LEXICON: &[(&str, f64)] = &[
    ("abysmal", -4.0),
    ("adorable", 3.0),
    ("amazing", 4.0),
    ("angry", -3.0),
    ("annoyed", -2.0),
    ("annoying", -2.0),
    ("anxious", -2.0),
    ("appalling", -4.0),
    ("appreciate", 2.0),
    ("awesome", 4.0),
    ("awful", -3.0),
    ("bad", -3.0),
    ("beautiful", 3.0),
    ("best", 3.0),
    ("better", 2.0),
    ("boring", -2.0),
    ("brilliant", 4.0),
    ("broken", -2.0),
    ("buggy", -2.0),
    ("calm", 2.0),
    ("charming", 3.0),
    ("cheap", -1.0),
    ("clean", 2.0),
    ("clear", 1.0),
    ("clumsy", -2.0),
    ("comfortable", 2.0),
    ("confusing", -2.0),
    ("crash", -2.0),
    ("crashes", -2.0),
    ("cute", 2.0),
    ("damaged", -3.0),
    ("delight", 3.0),
    ("delighted", 3.0),
    ("delightful", 3.0),
    ("disappointed", -2.0),
    ("disappointing", -2.0),
    ("disaster", -3.0),
    ("disgusting", -3.0),
    ("dislike", -2.0),
    ("dreadful", -3.0),
    ("dull", -2.0),
    ("easy", 1.0),
    ("efficient", 2.0),
    ("elegant", 2.0),
    ("enjoy", 2.0),
    ("enjoyed", 2.0),
    ("excellent", 3.0),
    ("excited", 3.0),
    ("exciting", 3.0),
    ("expensive", -1.0),
    ("fail", -2.0),
    ("failed", -2.0),
    ("failure", -2.0),
    ("fantastic", 4.0),
    ("fast", 1.0),
    ("fault", -2.0),
    ("faulty", -2.0),
    ("fine", 1.0),
    ("flawed", -2.0),
    ("flawless", 3.0),
    ("frustrated", -2.0),
    ("frustrating", -2.0),
    ("fun", 2.0),
    ("glad", 2.0),
    ("good", 2.0),
    ("gorgeous", 3.0),
    ("great", 3.0),
    ("happy", 3.0),
    ("hate", -3.0),
    ("hated", -3.0),
    ("helpful", 2.0),
    ("horrible", -3.0),
    ("ideal", 2.0),
    ("impressed", 3.0),
    ("impressive", 3.0),
    ("inadequate", -2.0),
    ("incredible", 3.0),
    ("ineffective", -2.0),
    ("inferior", -2.0),
    ("intuitive", 2.0),
    ("issue", -1.0),
    ("issues", -1.0),
    ("joy", 3.0),
    ("lag", -1.0),
    ("laggy", -2.0),
    ("like", 2.0),
    ("liked", 2.0),
    ("love", 3.0),
    ("loved", 3.0),
    ("lovely", 3.0),
    ("mediocre", -1.0),
    ("mess", -2.0),
    ("miserable", -3.0),
    ("nice", 2.0),
    ("noisy", -1.0),
    ("ok", 1.0),
    ("okay", 1.0),
    ("outstanding", 4.0),
    ("overpriced", -2.0),
    ("pain", -2.0),
    ("painful", -2.0),
    ("pathetic", -3.0),
    ("perfect", 3.0),
    ("pleasant", 2.0),
    ("pleased", 2.0),
    ("poor", -2.0),
    ("problem", -2.0),
    ("problems", -2.0),
    ("recommend", 2.0),
    ("refund", -1.0),
    ("regret", -2.0),
    ("reliable", 2.0),
    ("rude", -2.0),
    ("sad", -2.0),
    ("satisfied", 2.0),
    ("slow", -1.0),
    ("sluggish", -2.0),
    ("smooth", 2.0),
    ("solid", 2.0),
    ("stunning", 4.0),
    ("superb", 4.0),
    ("terrible", -3.0),
    ("thank", 2.0),
    ("thanks", 2.0),
    ("ugly", -3.0),
    ("unhappy", -2.0),
    ("unreliable", -2.0),
    ("unusable", -3.0),
    ("upset", -2.0),
    ("useful", 2.0),
    ("useless", -2.0),
    ("waste", -2.0),
    ("weak", -2.0),
    ("wonderful", 4.0),
    ("worse", -3.0),
    ("worst", -3.0),
    ("worthless", -3.0),
    ("wow", 3.0),
    ("wrong", -2.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_is_sorted_and_unique() {
        for pair in LEXICON.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{} must come before {}",
                pair[0].0,
                pair[1].0
            );
        }
    }

    #[test]
    fn clear_cases() {
        assert_eq!(
            analyze("I love this phone, the camera is amazing!").sentiment,
            "positive"
        );
        assert_eq!(
            analyze("Terrible battery and an awful screen.").sentiment,
            "negative"
        );
        assert_eq!(
            analyze("The package arrived on Tuesday.").sentiment,
            "neutral"
        );
    }

    #[test]
    fn negation_flips() {
        let a = analyze("This is not good");
        assert_eq!(a.sentiment, "negative");
        assert_eq!(a.negative_words, vec!["good"]);
        assert_eq!(analyze("It isn't bad at all").sentiment, "positive");
    }

    #[test]
    fn intensifiers_and_contrast_weigh() {
        assert!(analyze("very good").score > analyze("good").score);
        assert_eq!(
            analyze("The screen is great, but the battery is terrible").sentiment,
            "negative"
        );
    }

    #[test]
    fn scores_stay_in_range() {
        let a = analyze(&"amazing ".repeat(1000));
        assert!(a.score <= 1.0 && a.score > 0.99);
    }
}
