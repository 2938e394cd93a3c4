//! What a detector is and what it reports.

use std::fmt;
use std::ops::Range;

use openshell_policy::wire::{DataType, Evidence, Sensitivity, Span};
use serde::Serialize;

/// A content detector. Each one knows the data type it reveals and the sensitivity a match
/// implies on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detector {
    /// An email address.
    Email,
    /// A telephone number (international `+…` or North American `(415) 555-2671`).
    Phone,
    /// A payment card number: a known issuer prefix and a valid Luhn checksum.
    PaymentCard,
    /// An IBAN with a valid mod-97 checksum and country format.
    Iban,
    /// A US Social Security number passing Presidio's invalidation rules.
    UsSsn,
    /// A UK National Insurance number.
    UkNino,
    /// A Spanish DNI or NIE with a valid control letter.
    EsDni,
    /// An AWS access key id (`AKIA…`).
    AwsAccessKey,
    /// A GitHub token (`ghp_…`, `github_pat_…`).
    GithubToken,
    /// A Slack token (`xoxb-…`).
    SlackToken,
    /// A Google API key (`AIza…`).
    GoogleApiKey,
    /// A Hugging Face access token (`hf_…`).
    HuggingFaceToken,
    /// A Stripe secret or restricted key (`sk_live_…`).
    StripeKey,
    /// An OpenAI-style secret key (`sk-…`).
    OpenaiKey,
    /// A JSON Web Token.
    Jwt,
    /// An HTTP bearer token.
    BearerToken,
    /// A PEM private key block.
    PrivateKey,
    /// A secret assigned to a key-like name (`password = …`, `api_key: …`).
    SecretAssignment,
    /// A diagnosis, medication or clinical term.
    HealthTerm,
    /// An ICD-10 diagnosis code (`E11.9`).
    Icd10Code,
    /// A banking or payment term (`routing number`, `wire transfer`).
    FinancialTerm,
    /// A money amount (`$1,250.00`, `300 EUR`).
    MoneyAmount,
    /// A field whose name says what it holds (`ssn`, `diagnosis`, `password`).
    FieldName,
}

impl Detector {
    /// The detector's name, as used in evidence and in `[REDACTED:<name>]`.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::PaymentCard => "payment-card",
            Detector::Iban => "iban",
            Detector::UsSsn => "us-ssn",
            Detector::UkNino => "uk-nino",
            Detector::EsDni => "es-dni",
            Detector::AwsAccessKey => "aws-access-key",
            Detector::GithubToken => "github-token",
            Detector::SlackToken => "slack-token",
            Detector::GoogleApiKey => "google-api-key",
            Detector::HuggingFaceToken => "huggingface-token",
            Detector::StripeKey => "stripe-key",
            Detector::OpenaiKey => "openai-key",
            Detector::Jwt => "jwt",
            Detector::BearerToken => "bearer-token",
            Detector::PrivateKey => "private-key",
            Detector::SecretAssignment => "secret",
            Detector::HealthTerm => "health-term",
            Detector::Icd10Code => "icd10-code",
            Detector::FinancialTerm => "financial-term",
            Detector::MoneyAmount => "money-amount",
            Detector::FieldName => "field-name",
        }
    }

    /// The data type a match reveals (field names carry their own; this is their default).
    pub fn data_type(self) -> DataType {
        match self {
            Detector::Email
            | Detector::Phone
            | Detector::UsSsn
            | Detector::UkNino
            | Detector::EsDni
            | Detector::FieldName => DataType::Personal,
            Detector::PaymentCard => DataType::PaymentCard,
            Detector::Iban | Detector::FinancialTerm | Detector::MoneyAmount => DataType::Financial,
            Detector::HealthTerm | Detector::Icd10Code => DataType::Health,
            Detector::AwsAccessKey
            | Detector::GithubToken
            | Detector::SlackToken
            | Detector::GoogleApiKey
            | Detector::HuggingFaceToken
            | Detector::StripeKey
            | Detector::OpenaiKey
            | Detector::Jwt
            | Detector::BearerToken
            | Detector::PrivateKey
            | Detector::SecretAssignment => DataType::Credentials,
        }
    }

    /// The sensitivity one match implies on its own.
    pub fn sensitivity(self) -> Sensitivity {
        match self.data_type() {
            DataType::Credentials => Sensitivity::Restricted,
            _ => match self {
                Detector::PaymentCard | Detector::UsSsn | Detector::UkNino | Detector::EsDni => {
                    Sensitivity::Restricted
                }
                Detector::FinancialTerm | Detector::MoneyAmount => Sensitivity::Internal,
                _ => Sensitivity::Confidential,
            },
        }
    }

    /// Whether [`crate::redact`] replaces matches of this detector. Everything that identifies
    /// a person, grants access or reveals health is redacted; banking vocabulary and money
    /// amounts are kept so logs stay readable.
    pub fn redacted(self) -> bool {
        !matches!(self, Detector::FinancialTerm | Detector::MoneyAmount)
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One detector match in a scanned string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Which detector matched.
    pub detector: Detector,
    /// The data type revealed.
    pub data_type: DataType,
    /// The sensitivity this match implies on its own.
    pub sensitivity: Sensitivity,
    /// Byte range of the match in the scanned string.
    pub span: Range<usize>,
    /// How sure the detector is, 0.0 to 1.0 (checksummed matches near 1).
    pub confidence: f32,
    /// The match with its identifying part masked.
    pub sample: String,
}

impl Finding {
    /// This finding as wire evidence, attributed to `field` when it came from one.
    pub fn to_evidence(&self, field: Option<&str>) -> Evidence {
        Evidence {
            field: field.map(str::to_owned),
            detector: self.detector.name().to_owned(),
            span: Some(Span {
                start: self.span.start,
                end: self.span.end,
            }),
            sample: Some(self.sample.clone()),
            confidence: self.confidence,
        }
    }
}
