//! "Did you mean …?" suggestions for misspelt keys and values.

/// The candidate closest to `input`, if one is close enough to be a plausible typo.
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lowered = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::levenshtein(&lowered, &candidate.to_ascii_lowercase());
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A hint that suggests the closest candidate, or lists them all.
pub(crate) fn hint(input: &str, candidates: &[&str], otherwise: &str) -> String {
    match closest(input, candidates) {
        Some(candidate) => format!("did you mean '{candidate}'?"),
        None => otherwise.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_typos_are_suggested() {
        let fields = ["network", "filesystem", "syscalls"];
        assert_eq!(closest("netwrk", &fields), Some("network"));
        assert_eq!(closest("FileSystem", &fields), Some("filesystem"));
        assert_eq!(closest("syscall", &fields), Some("syscalls"));
    }

    #[test]
    fn unrelated_words_are_not_suggested() {
        assert_eq!(closest("gpu", &["network", "filesystem"]), None);
        assert_eq!(
            hint("zzz", &["a"], "use one of: a"),
            "use one of: a".to_owned()
        );
    }
}
