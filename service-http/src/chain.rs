//! An error with its sources, for messages a person reads: a client's own error often names
//! only the step that failed (`client error (Connect)`), its sources say why.

/// An error and its sources, joined, each part once (`client error (Connect): invalid peer
/// certificate: UnknownIssuer`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}
