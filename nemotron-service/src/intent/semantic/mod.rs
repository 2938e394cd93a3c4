//! The semantic signal: the sentence embedding of an action's text (all-MiniLM-L6-v2 on the
//! CPU, [`Encoder`]) compared with labelled prototype sentences of attacker goals and ordinary
//! requests ([`PROTOTYPES`]). A class is the text's verdict when its closest prototype is
//! closer than [`MIN_SIMILARITY`] and closer by [`MIN_MARGIN`] than the closest ordinary
//! request; the intent module's fusion then raises the axes the class implies.

mod encoder;
mod int8;
mod minilm;
mod prototypes;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use encoder::{
    CONFIG_FILE, Encoder, MAX_TOKENS, TOKENIZER_FILE, WEIGHTS_FILE, cosine, l2_normalize, mean_pool,
};
pub use prototypes::{PROTOTYPES, SemanticClass};

/// The cosine similarity a class's closest prototype must reach.
pub const MIN_SIMILARITY: f32 = 0.5;
/// How much closer than the closest ordinary request the class's closest prototype must be.
pub const MIN_MARGIN: f32 = 0.05;

/// Why the embedding model cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// A file of the model directory is missing.
    #[error("embedding model: {} is missing", file.display())]
    Missing {
        /// The file.
        file: PathBuf,
    },
    /// A file of the model directory cannot be read or is not what the model needs.
    #[error("embedding model: {}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The text cannot be tokenized.
    #[error("embedding model: tokenizing the text: {0}")]
    Tokenize(String),
}

/// The semantic verdict on a text: the class and how close its closest prototype is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SemanticVerdict {
    /// The class.
    pub class: SemanticClass,
    /// The cosine similarity of the text to the class's closest prototype.
    pub similarity: f32,
    /// The cosine similarity of the text to the closest ordinary request.
    pub benign: f32,
}

/// The encoder with the embeddings of the prototypes.
pub struct SemanticModel {
    encoder: Encoder,
    prototypes: Vec<(SemanticClass, Vec<f32>)>,
}

impl SemanticModel {
    /// Loads the model from `dir` (`config.json`, `model.safetensors`, `tokenizer.json`) and
    /// embeds the prototypes.
    pub fn load(dir: &Path) -> Result<SemanticModel, SemanticError> {
        let encoder = Encoder::load(dir)?;
        let mut prototypes = Vec::new();
        for (class, sentences) in PROTOTYPES {
            for sentence in *sentences {
                prototypes.push((*class, encoder.embed(sentence)?));
            }
        }
        Ok(SemanticModel {
            encoder,
            prototypes,
        })
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The closest similarity of `text` to each class's prototypes, in [`SemanticClass`] order.
    pub fn similarities(&self, text: &str) -> Result<Vec<(SemanticClass, f32)>, SemanticError> {
        let embedding = self.encoder.embed(text)?;
        let mut best: Vec<(SemanticClass, f32)> = Vec::new();
        for (class, prototype) in &self.prototypes {
            let similarity = cosine(&embedding, prototype);
            match best.iter_mut().find(|(c, _)| c == class) {
                Some((_, s)) => *s = s.max(similarity),
                None => best.push((*class, similarity)),
            }
        }
        best.sort_by_key(|(c, _)| *c);
        Ok(best)
    }

    /// The class of attacker goal `text` reads as, if any.
    pub fn assess(&self, text: &str) -> Result<Option<SemanticVerdict>, SemanticError> {
        Ok(verdict(&self.similarities(text)?))
    }
}

/// The verdict for a text's closest similarities to each class.
pub fn verdict(similarities: &[(SemanticClass, f32)]) -> Option<SemanticVerdict> {
    let benign = similarities
        .iter()
        .find(|(c, _)| *c == SemanticClass::Benign)
        .map_or(0.0, |(_, s)| *s);
    similarities
        .iter()
        .filter(|(c, _)| *c != SemanticClass::Benign)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, s)| *s >= MIN_SIMILARITY && *s - benign >= MIN_MARGIN)
        .map(|&(class, similarity)| SemanticVerdict {
            class,
            similarity,
            benign,
        })
}

/// The text of an action's `data` the model reads: its string values, one per line.
pub fn text_of(data: &Value) -> String {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(fields) => fields.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    collect(data, &mut parts);
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_class_needs_similarity_and_a_margin_over_ordinary_requests() {
        let close = [
            (SemanticClass::Exfiltration, 0.72),
            (SemanticClass::Fraud, 0.40),
            (SemanticClass::Benign, 0.55),
        ];
        let v = verdict(&close).unwrap();
        assert_eq!(v.class, SemanticClass::Exfiltration);
        assert_eq!(v.similarity, 0.72);
        assert_eq!(v.benign, 0.55);
        let ordinary = [(SemanticClass::Fraud, 0.62), (SemanticClass::Benign, 0.60)];
        assert_eq!(verdict(&ordinary), None);
        let far = [
            (SemanticClass::Destruction, 0.45),
            (SemanticClass::Benign, 0.10),
        ];
        assert_eq!(verdict(&far), None);
    }

    #[test]
    fn the_text_is_every_string_of_the_data() {
        let data = json!({"text": "send it", "to": ["a", {"b": "c"}], "n": 3});
        assert_eq!(text_of(&data), "send it\na\nc");
    }
}
