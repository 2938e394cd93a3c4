//! Health and financial vocabularies, matched as whole words with Aho-Corasick.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::detector::Detector;

/// Diagnoses and conditions.
const DIAGNOSES: &[&str] = &[
    "diabetes",
    "type 1 diabetes",
    "type 2 diabetes",
    "hypertension",
    "hypotension",
    "cancer",
    "carcinoma",
    "melanoma",
    "lymphoma",
    "leukemia",
    "leukaemia",
    "tumor",
    "tumour",
    "hiv",
    "hepatitis",
    "hepatitis b",
    "hepatitis c",
    "asthma",
    "copd",
    "depression",
    "major depressive disorder",
    "anxiety disorder",
    "schizophrenia",
    "bipolar disorder",
    "ptsd",
    "adhd",
    "autism",
    "dementia",
    "alzheimer's",
    "alzheimers",
    "parkinson's",
    "parkinsons",
    "epilepsy",
    "multiple sclerosis",
    "tuberculosis",
    "pneumonia",
    "covid-19",
    "influenza",
    "myocardial infarction",
    "heart attack",
    "heart failure",
    "stroke",
    "arrhythmia",
    "atrial fibrillation",
    "kidney disease",
    "chronic kidney disease",
    "cirrhosis",
    "obesity",
    "anorexia",
    "bulimia",
    "substance use disorder",
    "opioid use disorder",
    "alcoholism",
    "pregnancy",
    "pregnant",
    "miscarriage",
    "sexually transmitted",
    "chlamydia",
    "syphilis",
    "gonorrhea",
    "herpes",
    "osteoporosis",
    "arthritis",
    "rheumatoid arthritis",
    "lupus",
    "crohn's disease",
    "celiac disease",
    "sickle cell",
    "cystic fibrosis",
];

/// Medications and treatments.
const MEDICATIONS: &[&str] = &[
    "metformin",
    "insulin",
    "lisinopril",
    "atorvastatin",
    "simvastatin",
    "amlodipine",
    "losartan",
    "amoxicillin",
    "azithromycin",
    "sertraline",
    "fluoxetine",
    "prozac",
    "zoloft",
    "lexapro",
    "escitalopram",
    "citalopram",
    "bupropion",
    "lithium",
    "quetiapine",
    "olanzapine",
    "risperidone",
    "adderall",
    "ritalin",
    "methylphenidate",
    "oxycodone",
    "hydrocodone",
    "morphine",
    "fentanyl",
    "methadone",
    "buprenorphine",
    "naloxone",
    "warfarin",
    "eliquis",
    "apixaban",
    "levothyroxine",
    "prednisone",
    "methotrexate",
    "chemotherapy",
    "radiotherapy",
    "dialysis",
    "antiretroviral",
    "truvada",
    "ozempic",
    "semaglutide",
    "albuterol",
    "gabapentin",
    "xanax",
    "alprazolam",
    "valium",
    "diazepam",
];

/// Clinical vocabulary: words that put surrounding text in a medical context.
const CLINICAL: &[&str] = &[
    "diagnosis",
    "diagnosed",
    "diagnoses",
    "prognosis",
    "prescription",
    "prescribed",
    "medical record",
    "medical records",
    "medical history",
    "health record",
    "health records",
    "patient record",
    "patient records",
    "lab results",
    "blood test",
    "blood pressure",
    "biopsy",
    "mri scan",
    "ct scan",
    "x-ray",
    "treatment plan",
    "therapy session",
    "psychiatric",
    "psychotherapy",
    "discharge summary",
    "allergies",
    "allergic to",
    "icd-10",
    "medication",
    "medications",
    "symptoms",
    "clinical notes",
    "hospitalized",
    "hospitalised",
    "admitted to hospital",
    "surgery",
    "vaccination record",
];

/// Banking, payment and compensation vocabulary.
const FINANCIAL: &[&str] = &[
    "account number",
    "bank account",
    "routing number",
    "sort code",
    "swift code",
    "bic code",
    "iban",
    "credit card",
    "debit card",
    "card number",
    "cvv",
    "cvc",
    "expiry date",
    "expiration date",
    "wire transfer",
    "bank transfer",
    "ach transfer",
    "direct deposit",
    "invoice",
    "invoices",
    "billing address",
    "billing",
    "payment",
    "payments",
    "refund",
    "chargeback",
    "salary",
    "salaries",
    "payroll",
    "compensation",
    "bonus",
    "tax return",
    "tax id",
    "credit score",
    "credit report",
    "loan",
    "mortgage",
    "account balance",
    "balance",
    "transaction",
    "transactions",
    "revenue",
    "earnings",
    "financial statement",
    "financial statements",
    "bank statement",
    "brokerage",
    "portfolio",
];

/// One vocabulary term match.
pub(crate) struct TermMatch {
    pub(crate) detector: Detector,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) confidence: f32,
}

/// All vocabularies in one automaton, matched case-insensitively, longest term first.
pub(crate) struct Vocabulary {
    automaton: AhoCorasick,
    /// Per pattern index: which detector and how confident a match is.
    meaning: Vec<(Detector, f32)>,
}

impl Vocabulary {
    pub(crate) fn new() -> Vocabulary {
        let groups: [(&[&str], Detector, f32); 4] = [
            (DIAGNOSES, Detector::HealthTerm, 0.8),
            (MEDICATIONS, Detector::HealthTerm, 0.75),
            (CLINICAL, Detector::HealthTerm, 0.6),
            (FINANCIAL, Detector::FinancialTerm, 0.5),
        ];
        let mut patterns = Vec::new();
        let mut meaning = Vec::new();
        for (terms, detector, confidence) in groups {
            for term in terms {
                patterns.push(*term);
                meaning.push((detector, confidence));
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("vocabulary terms are plain literals");
        Vocabulary { automaton, meaning }
    }

    /// Whole-word matches of any term in `text`.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<TermMatch>) {
        let bytes = text.as_bytes();
        for m in self.automaton.find_iter(text) {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            if before.is_some_and(is_word_byte) || after.is_some_and(is_word_byte) {
                continue;
            }
            let (detector, confidence) = self.meaning[m.pattern().as_usize()];
            out.push(TermMatch {
                detector,
                start: m.start(),
                end: m.end(),
                confidence,
            });
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        Vocabulary::new().find(text, &mut out);
        out.iter()
            .map(|m| (m.detector.name(), text[m.start..m.end].to_owned()))
            .collect()
    }

    #[test]
    fn whole_words_only_longest_first() {
        assert_eq!(
            terms("Patient has Type 2 Diabetes and takes Metformin."),
            vec![
                ("health-term", "Type 2 Diabetes".to_owned()),
                ("health-term", "Metformin".to_owned())
            ]
        );
        assert!(terms("the aidsstation hivemind prepare").is_empty());
        assert_eq!(
            terms("send the routing number"),
            vec![("financial-term", "routing number".to_owned())]
        );
    }
}
