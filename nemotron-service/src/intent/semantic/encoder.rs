//! The sentence encoder: all-MiniLM-L6-v2 (a 6-layer BERT, [`super::minilm`]) on one CPU
//! thread with its linear layers in 8 bits, its WordPiece tokenizer, mean pooling over the
//! tokens and L2 normalisation, as sentence-transformers computes the model's sentence
//! embeddings.

use std::path::{Path, PathBuf};

use candle_core::Device;
use tokenizers::{Tokenizer, TruncationParams};

use super::SemanticError;
use super::int8::Kernel;
use super::minilm::{BertConfig, MiniLm};

/// The model's configuration file in the model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file in the model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The tokenizer file in the model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Tokens the model reads of a text, `[CLS]` and `[SEP]` included; the rest of a longer text
/// is read by the detectors only. The model's time grows with the tokens, so the cap bounds
/// what one text costs. Measured on the corpus's training split, reading the first 32 tokens
/// gives more attacker texts a verdict than reading them whole (65 of 123 against 61; the
/// mean of a long text's tokens drowns its instruction in the text around it) and no more
/// ordinary ones (9 of 187 either way); 24 gives 64, 16 gives 54.
pub const MAX_TOKENS: usize = 32;

/// A loaded sentence encoder.
pub struct Encoder {
    model: MiniLm,
    tokenizer: Tokenizer,
}

fn existing(dir: &Path, name: &str) -> Result<PathBuf, SemanticError> {
    let file = dir.join(name);
    if file.is_file() {
        Ok(file)
    } else {
        Err(SemanticError::Missing { file })
    }
}

impl Encoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Encoder, SemanticError> {
        let config_file = existing(dir, CONFIG_FILE)?;
        let weights_file = existing(dir, WEIGHTS_FILE)?;
        let tokenizer_file = existing(dir, TOKENIZER_FILE)?;
        let invalid = |file: &Path, message: String| SemanticError::Invalid {
            file: file.to_owned(),
            message,
        };

        let text = std::fs::read_to_string(&config_file)
            .map_err(|e| invalid(&config_file, e.to_string()))?;
        let config: BertConfig =
            serde_json::from_str(&text).map_err(|e| invalid(&config_file, e.to_string()))?;
        if MAX_TOKENS > config.max_position_embeddings {
            return Err(invalid(
                &config_file,
                format!("fewer than {MAX_TOKENS} positions"),
            ));
        }

        let tensors = candle_core::safetensors::load(&weights_file, &Device::Cpu)
            .map_err(|e| invalid(&weights_file, e.to_string()))?;
        let model = MiniLm::new(&config, tensors, Kernel::detect())
            .map_err(|message| invalid(&weights_file, message))?;

        let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| invalid(&tokenizer_file, e.to_string()))?;
        // One text at a time: no padding; truncation at the model's sequence length.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| invalid(&tokenizer_file, e.to_string()))?;
        if tokenizer.get_vocab_size(true) > model.vocab() {
            return Err(invalid(
                &tokenizer_file,
                format!("more tokens than the model's {}", model.vocab()),
            ));
        }
        Ok(Encoder { model, tokenizer })
    }

    /// How many tokens the model reads of `text` (with `[CLS]` and `[SEP]`).
    pub fn token_count(&self, text: &str) -> Result<usize, SemanticError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| SemanticError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().len())
    }

    /// The unit-length sentence embedding of `text`.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, SemanticError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| SemanticError::Tokenize(e.to_string()))?;
        let hidden = self.model.forward(encoding.get_ids());
        let mut pooled = mean_pool(&hidden, self.model.hidden(), encoding.get_attention_mask());
        l2_normalize(&mut pooled);
        Ok(pooled)
    }
}

/// The mean of the token vectors (`hidden`: one row of `dimensions` per token) whose `mask` is
/// 1; zeros when none is.
pub fn mean_pool(hidden: &[f32], dimensions: usize, mask: &[u32]) -> Vec<f32> {
    let mut sum = vec![0.0f32; dimensions];
    let mut count = 0.0f32;
    for (row, &m) in hidden.chunks_exact(dimensions).zip(mask) {
        if m == 0 {
            continue;
        }
        count += 1.0;
        sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    if count > 0.0 {
        sum.iter_mut().for_each(|s| *s /= count);
    }
    sum
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The cosine similarity of two unit-length vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_averages_the_tokens_the_mask_keeps() {
        let hidden = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        assert_eq!(mean_pool(&hidden, 2, &[1, 1, 0]), vec![2.0, 3.0]);
        assert_eq!(mean_pool(&hidden, 2, &[0, 0, 0]), vec![0.0, 0.0]);
    }

    #[test]
    fn normalised_vectors_have_unit_length_and_cosine_one_with_themselves() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
        let mut w = vec![-4.0, 3.0];
        l2_normalize(&mut w);
        assert!(cosine(&v, &w).abs() < 1e-6);
        let mut zero = vec![0.0, 0.0];
        l2_normalize(&mut zero);
        assert_eq!(zero, vec![0.0, 0.0]);
    }
}
