//! Loading a policy file: every document in it, checked alone and against each other.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::documents::{
    ApiCatalog, ApiCatalogSpec, ApprovalPolicy, ApprovalSpec, BARE_BLOCKS, BareApproval,
    BareNetwork, BarePrivacyRouter, Envelope, Header, KINDS, Metadata, NaturalLanguagePolicy,
    NaturalLanguageSpec, NetworkPolicy, NetworkSpec, PrivacyRouterPolicy, PrivacyRouterSpec,
    SandboxPolicy, SandboxSpec,
};
use crate::error::{Diagnostics, PolicyError, Problem};
use crate::located::{Located, Position};
use crate::validate;
use crate::yaml::{self, MAX_POLICY_FILE_BYTES, YamlDocument};
use crate::{API_VERSION, suggest};

/// The documents of one policy file.
#[derive(Clone, Debug)]
pub struct PolicySet {
    file: String,
    digest: String,
    first_name: String,
    sandbox: Option<SandboxPolicy>,
    network: Option<NetworkPolicy>,
    approval: Option<ApprovalPolicy>,
    privacy_router: Option<PrivacyRouterPolicy>,
    natural_language: Vec<NaturalLanguagePolicy>,
    api_catalog: Option<ApiCatalog>,
}

impl PolicySet {
    /// Reads and validates the policy file at `path` (its path, as given, names it in errors).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let read_error = |source| PolicyError::Read {
            path: name.clone(),
            source,
        };
        // Reads one byte past the limit, so an oversized file is refused without reading it all.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| {
                file.take(MAX_POLICY_FILE_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(read_error)?;
        if bytes.len() > MAX_POLICY_FILE_BYTES {
            return Err(too_large(&name));
        }
        let text = String::from_utf8(bytes).map_err(|error| PolicyError::Read {
            path: name.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
        })?;
        Self::parse(&name, &text)
    }

    /// Parses and validates policy text; `file` names it in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_FILE_BYTES {
            return Err(too_large(file));
        }
        let mut diagnostics = Diagnostics::new(file);
        let mut set = PolicySet {
            file: file.to_owned(),
            digest: sha256_digest(text.as_bytes()),
            first_name: String::new(),
            sandbox: None,
            network: None,
            approval: None,
            privacy_router: None,
            natural_language: Vec::new(),
            api_catalog: None,
        };
        let documents = yaml::split_documents(text, &mut diagnostics);
        if documents.is_empty() && diagnostics.is_empty() {
            diagnostics.error(
                Position::UNKNOWN,
                "the file holds no policy document",
                "start it with 'apiVersion: openshell.nvidia.com/v1' and 'kind: SandboxPolicy'",
            );
        }
        for document in &documents {
            set.read_document(document, &mut diagnostics);
        }
        // Documents that failed to read are absent, so the checks below never run on half a
        // document; their problems are reported next to the ones found here.
        validate::check(&set, &mut diagnostics);
        diagnostics.finish(set)
    }

    fn read_document(&mut self, document: &YamlDocument, diagnostics: &mut Diagnostics) {
        if !document.root_is_mapping {
            diagnostics.error(
                document.start,
                "a policy document must be a mapping",
                "write 'apiVersion:', 'kind:', 'metadata:' and 'spec:' keys",
            );
            return;
        }
        let Some(header) = yaml::deserialize::<Header>(document, "", diagnostics) else {
            return;
        };
        if let Some(kind) = header.kind {
            self.read_kind(&kind, document, diagnostics);
            return;
        }
        let stem = Path::new(diagnostics.file())
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "policy".to_owned());
        let bare_name = |name: Option<Located<String>>| {
            Metadata::named(name.unwrap_or_else(|| Located::unplaced(stem.clone())))
        };
        if header.network_policy.is_some() {
            if let Some(bare) =
                yaml::deserialize::<BareNetwork>(document, "networkPolicy", diagnostics)
            {
                let mut spec = bare.network_policy;
                let metadata = bare_name(spec.name.take());
                self.add_network(NetworkPolicy { metadata, spec }, diagnostics);
            }
        } else if header.privacy_router.is_some() {
            if let Some(bare) =
                yaml::deserialize::<BarePrivacyRouter>(document, "privacyRouter", diagnostics)
            {
                let mut spec = bare.privacy_router;
                let metadata = bare_name(spec.name.take());
                self.add_privacy_router(PrivacyRouterPolicy { metadata, spec }, diagnostics);
            }
        } else if header.approval_policy.is_some() {
            if let Some(bare) =
                yaml::deserialize::<BareApproval>(document, "approvalPolicy", diagnostics)
            {
                let mut spec = bare.approval_policy;
                let metadata = bare_name(spec.name.take());
                self.add_approval(ApprovalPolicy { metadata, spec }, diagnostics);
            }
        } else {
            let blocks: Vec<&str> = BARE_BLOCKS.iter().map(|(block, _)| *block).collect();
            diagnostics.error(
                document.start,
                "document has no 'kind'",
                format!(
                    "add 'apiVersion: {API_VERSION}' and 'kind: <{}>', or write a bare {} block",
                    KINDS.join("|"),
                    blocks.join(":/")
                ),
            );
        }
    }

    fn read_kind(
        &mut self,
        located_kind: &Located<String>,
        document: &YamlDocument,
        diagnostics: &mut Diagnostics,
    ) {
        let kind = located_kind.value.as_str();
        match kind {
            "SandboxPolicy" => {
                if let Some(envelope) = envelope::<SandboxSpec>(document, kind, diagnostics) {
                    let (metadata, spec) = envelope;
                    self.add_sandbox(SandboxPolicy { metadata, spec }, diagnostics);
                }
            }
            "NetworkPolicy" => {
                if let Some((metadata, spec)) = envelope::<NetworkSpec>(document, kind, diagnostics)
                {
                    reject_spec_name(spec.name.as_ref(), diagnostics);
                    self.add_network(NetworkPolicy { metadata, spec }, diagnostics);
                }
            }
            "ApprovalPolicy" => {
                if let Some((metadata, spec)) =
                    envelope::<ApprovalSpec>(document, kind, diagnostics)
                {
                    reject_spec_name(spec.name.as_ref(), diagnostics);
                    self.add_approval(ApprovalPolicy { metadata, spec }, diagnostics);
                }
            }
            "PrivacyRouterPolicy" => {
                if let Some((metadata, spec)) =
                    envelope::<PrivacyRouterSpec>(document, kind, diagnostics)
                {
                    reject_spec_name(spec.name.as_ref(), diagnostics);
                    self.add_privacy_router(PrivacyRouterPolicy { metadata, spec }, diagnostics);
                }
            }
            "NaturalLanguagePolicy" => {
                if let Some((metadata, spec)) =
                    envelope::<NaturalLanguageSpec>(document, kind, diagnostics)
                {
                    self.note_name(&metadata);
                    self.natural_language
                        .push(NaturalLanguagePolicy { metadata, spec });
                }
            }
            "ApiCatalog" => {
                if let Some((metadata, spec)) =
                    envelope::<ApiCatalogSpec>(document, kind, diagnostics)
                {
                    let catalog = ApiCatalog { metadata, spec };
                    if self.api_catalog.is_some() {
                        duplicate(&catalog.metadata, "ApiCatalog", diagnostics);
                    } else {
                        self.note_name(&catalog.metadata);
                        self.api_catalog = Some(catalog);
                    }
                }
            }
            other => diagnostics.error(
                located_kind.position,
                format!(
                    "unknown kind '{other}' (expected one of: {})",
                    KINDS.join(", ")
                ),
                suggest::hint(other, &KINDS, "use one of the listed kinds"),
            ),
        }
    }

    fn note_name(&mut self, metadata: &Metadata) {
        if self.first_name.is_empty() {
            self.first_name = metadata.name.value.clone();
        }
    }

    fn add_sandbox(&mut self, policy: SandboxPolicy, diagnostics: &mut Diagnostics) {
        if self.sandbox.is_some() {
            duplicate(&policy.metadata, "SandboxPolicy", diagnostics);
        } else {
            self.note_name(&policy.metadata);
            self.sandbox = Some(policy);
        }
    }

    fn add_network(&mut self, policy: NetworkPolicy, diagnostics: &mut Diagnostics) {
        if self.network.is_some() {
            duplicate(&policy.metadata, "NetworkPolicy", diagnostics);
        } else {
            self.note_name(&policy.metadata);
            self.network = Some(policy);
        }
    }

    fn add_approval(&mut self, policy: ApprovalPolicy, diagnostics: &mut Diagnostics) {
        if self.approval.is_some() {
            duplicate(&policy.metadata, "ApprovalPolicy", diagnostics);
        } else {
            self.note_name(&policy.metadata);
            self.approval = Some(policy);
        }
    }

    fn add_privacy_router(&mut self, policy: PrivacyRouterPolicy, diagnostics: &mut Diagnostics) {
        if self.privacy_router.is_some() {
            duplicate(&policy.metadata, "PrivacyRouterPolicy", diagnostics);
        } else {
            self.note_name(&policy.metadata);
            self.privacy_router = Some(policy);
        }
    }

    /// The file name given to `load` or `parse`.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// `sha256:<hex>` of the file's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The policy's name: the SandboxPolicy's, else the first document's.
    pub fn name(&self) -> &str {
        self.sandbox
            .as_ref()
            .map(|policy| policy.metadata.name.value.as_str())
            .unwrap_or(&self.first_name)
    }

    /// The `SandboxPolicy`, if the file has one.
    pub fn sandbox(&self) -> Option<&SandboxPolicy> {
        self.sandbox.as_ref()
    }

    /// The `NetworkPolicy`, if any.
    pub fn network(&self) -> Option<&NetworkPolicy> {
        self.network.as_ref()
    }

    /// The `ApprovalPolicy`, if any.
    pub fn approval(&self) -> Option<&ApprovalPolicy> {
        self.approval.as_ref()
    }

    /// The `PrivacyRouterPolicy`, if any.
    pub fn privacy_router(&self) -> Option<&PrivacyRouterPolicy> {
        self.privacy_router.as_ref()
    }

    /// The `NaturalLanguagePolicy` documents, in file order.
    pub fn natural_language(&self) -> &[NaturalLanguagePolicy] {
        &self.natural_language
    }

    /// The `ApiCatalog`, if any.
    pub fn api_catalog(&self) -> Option<&ApiCatalog> {
        self.api_catalog.as_ref()
    }

    /// Checks the permissions of this set against a catalog loaded from another file: every
    /// API named in `allowedAPIs`/`deniedAPIs` must be in it.
    pub fn check_catalog(&self, catalog: &ApiCatalog) -> Result<(), PolicyError> {
        let mut diagnostics = Diagnostics::new(&self.file);
        validate::check_permissions_in_catalog(self, catalog, &mut diagnostics);
        diagnostics.finish(())
    }
}

/// The error for a file over [`MAX_POLICY_FILE_BYTES`].
fn too_large(file: &str) -> PolicyError {
    PolicyError::Invalid(vec![Problem {
        file: file.to_owned(),
        position: Position::UNKNOWN,
        message: format!(
            "the file is larger than the {} MiB a policy file may be",
            MAX_POLICY_FILE_BYTES >> 20
        ),
        hint: "split it into smaller files or remove repeated documents".to_owned(),
    }])
}

/// `sha256:<hex>` of `bytes`.
fn sha256_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::from("sha256:"), |mut hex, byte| {
            hex.push_str(&format!("{byte:02x}"));
            hex
        })
}

/// Reads a Kubernetes-shaped document and checks its `apiVersion`.
fn envelope<S: serde::de::DeserializeOwned>(
    document: &YamlDocument,
    kind: &str,
    diagnostics: &mut Diagnostics,
) -> Option<(Metadata, S)> {
    let envelope = yaml::deserialize::<Envelope<S>>(document, kind, diagnostics)?;
    if envelope.api_version.value != API_VERSION {
        diagnostics.error(
            envelope.api_version.position,
            format!(
                "unsupported apiVersion '{}' (expected {API_VERSION})",
                envelope.api_version.value
            ),
            format!("write 'apiVersion: {API_VERSION}'"),
        );
        return None;
    }
    Some((envelope.metadata, envelope.spec))
}

fn reject_spec_name(name: Option<&Located<String>>, diagnostics: &mut Diagnostics) {
    if let Some(name) = name {
        diagnostics.error(
            name.position,
            "'name' in spec is only for bare blocks",
            "move it to metadata.name",
        );
    }
}

fn duplicate(metadata: &Metadata, kind: &str, diagnostics: &mut Diagnostics) {
    diagnostics.error(
        metadata.name.position,
        format!("a second {kind} in one file"),
        format!("keep one {kind} per policy file"),
    );
}

#[cfg(test)]
mod tests;
