//! The model APIs the node knows by host: a sandbox's direct calls to them would bypass the
//! privacy router's sensitivity routing, so the egress engine refuses them unless an allow
//! rule says `directModelAccess: true` for that host.

/// A provider and the hosts its model API answers on: an exact name, `*.SUFFIX` (any name
/// under SUFFIX) or `PREFIX.*.SUFFIX` (one or more labels between, as regional endpoints).
pub const MODEL_APIS: &[(&str, &[&str])] = &[
    ("OpenAI", &["api.openai.com"]),
    (
        "Azure OpenAI",
        &["*.openai.azure.com", "*.services.ai.azure.com"],
    ),
    ("Anthropic", &["api.anthropic.com"]),
    (
        "Google",
        &[
            "generativelanguage.googleapis.com",
            "aiplatform.googleapis.com",
            "*-aiplatform.googleapis.com",
        ],
    ),
    (
        "NVIDIA API catalog",
        &[
            "integrate.api.nvidia.com",
            "ai.api.nvidia.com",
            "api.nvcf.nvidia.com",
        ],
    ),
    ("Mistral", &["api.mistral.ai", "codestral.mistral.ai"]),
    ("Cohere", &["api.cohere.com", "api.cohere.ai"]),
    ("Together", &["api.together.xyz", "api.together.ai"]),
    ("Groq", &["api.groq.com"]),
    ("DeepSeek", &["api.deepseek.com"]),
    ("Fireworks", &["api.fireworks.ai"]),
    ("xAI", &["api.x.ai"]),
    ("Perplexity", &["api.perplexity.ai"]),
    ("OpenRouter", &["openrouter.ai"]),
    (
        "Hugging Face",
        &["api-inference.huggingface.co", "router.huggingface.co"],
    ),
    ("Amazon Bedrock", &["bedrock-runtime.*.amazonaws.com"]),
    ("Replicate", &["api.replicate.com"]),
    ("DeepInfra", &["api.deepinfra.com"]),
];

/// The provider whose model API `host` is, if it is one (case and a trailing dot ignored).
pub fn model_api(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    MODEL_APIS
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|pattern| host_matches(pattern, &host)))
        .map(|(provider, _)| *provider)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.split_once('*') {
        None => host == pattern,
        Some((prefix, suffix)) => {
            host.len() > prefix.len() + suffix.len()
                && host.starts_with(prefix)
                && host.ends_with(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_hosts_are_known_by_name_and_pattern() {
        assert_eq!(model_api("api.openai.com"), Some("OpenAI"));
        assert_eq!(model_api("API.OpenAI.com."), Some("OpenAI"));
        assert_eq!(model_api("contoso.openai.azure.com"), Some("Azure OpenAI"));
        assert_eq!(model_api("openai.azure.com"), None);
        assert_eq!(
            model_api("bedrock-runtime.eu-west-1.amazonaws.com"),
            Some("Amazon Bedrock")
        );
        assert_eq!(model_api("s3.eu-west-1.amazonaws.com"), None);
        assert_eq!(
            model_api("europe-west4-aiplatform.googleapis.com"),
            Some("Google")
        );
        assert_eq!(
            model_api("integrate.api.nvidia.com"),
            Some("NVIDIA API catalog")
        );
        assert_eq!(model_api("api.openai.com.evil.test"), None);
        assert_eq!(model_api("notapi.openai.com"), None);
        assert_eq!(model_api("api.hubspot.com"), None);
    }
}
