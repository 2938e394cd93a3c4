//! Health and financial vocabularies, matched as whole words.

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

/// All vocabularies, indexed by each term's first byte (ASCII lowercase), longest term first
/// under each, with the second byte to pass over most candidates cheaply. Built in
/// microseconds, so a short-lived process (the OCI hook redacting one audit event) does not
/// pay for an automaton: compiling the 204 terms into Aho-Corasick took about 0.45 ms of the
/// scanner's 1.0 ms build.
pub(crate) struct Vocabulary {
    /// `(second byte, index into terms)`, by the term's first byte (both ASCII lowercase).
    by_first_byte: [Vec<(u8, usize)>; 128],
    /// Every term with its detector and how confident a match is.
    terms: Vec<(&'static str, Detector, f32)>,
}

impl Vocabulary {
    pub(crate) fn new() -> Vocabulary {
        let groups: [(&[&str], Detector, f32); 4] = [
            (DIAGNOSES, Detector::HealthTerm, 0.8),
            (MEDICATIONS, Detector::HealthTerm, 0.75),
            (CLINICAL, Detector::HealthTerm, 0.6),
            (FINANCIAL, Detector::FinancialTerm, 0.5),
        ];
        let terms: Vec<(&'static str, Detector, f32)> = groups
            .iter()
            .flat_map(|(terms, detector, confidence)| {
                terms
                    .iter()
                    .map(move |term| (*term, *detector, *confidence))
            })
            .collect();
        let mut by_first_byte: [Vec<(u8, usize)>; 128] = std::array::from_fn(|_| Vec::new());
        for (index, (term, _, _)) in terms.iter().enumerate() {
            let [first, second] = [0, 1].map(|i| term.as_bytes()[i].to_ascii_lowercase());
            by_first_byte[usize::from(first)].push((second, index));
        }
        for candidates in &mut by_first_byte {
            candidates.sort_by_key(|&(_, i)| std::cmp::Reverse(terms[i].0.len()));
        }
        Vocabulary {
            by_first_byte,
            terms,
        }
    }

    /// Whole-word matches of any term in `text`, case-insensitively (ASCII): at each word
    /// start, the longest term that ends where a word ends; the next search starts after it.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<TermMatch>) {
        let bytes = text.as_bytes();
        let mut at = 0;
        // `at` is 0 or a non-word byte, so the next word byte is a word's start.
        while let Some(start) = bytes[at..].iter().position(|&b| is_word_byte(b)) {
            let start = at + start;
            match self.longest_at(bytes, start) {
                Some((end, detector, confidence)) => {
                    out.push(TermMatch {
                        detector,
                        start,
                        end,
                        confidence,
                    });
                    at = end;
                }
                None => {
                    at = bytes[start..]
                        .iter()
                        .position(|&b| !is_word_byte(b))
                        .map_or(bytes.len(), |len| start + len);
                }
            }
        }
    }

    /// The longest term at `at` that a non-word byte (or the end) follows.
    fn longest_at(&self, bytes: &[u8], at: usize) -> Option<(usize, Detector, f32)> {
        let candidates = self
            .by_first_byte
            .get(usize::from(bytes[at].to_ascii_lowercase()))?;
        let second = bytes.get(at + 1)?.to_ascii_lowercase();
        candidates.iter().find_map(|&(term_second, index)| {
            if term_second != second {
                return None;
            }
            let (term, detector, confidence) = self.terms[index];
            let end = at + term.len();
            let whole_word = bytes.get(at..end)?.eq_ignore_ascii_case(term.as_bytes())
                && !bytes.get(end).copied().is_some_and(is_word_byte);
            whole_word.then_some((end, detector, confidence))
        })
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

    #[test]
    fn a_longer_term_that_ends_inside_a_word_leaves_the_shorter_one() {
        // `billing address` ends inside `addresses`: `billing` is still a whole word there.
        assert_eq!(
            terms("export their Billing addresses"),
            vec![("financial-term", "Billing".to_owned())]
        );
        assert!(terms("rebilling").is_empty());
        assert_eq!(
            terms("x-ray, x-rays"),
            vec![("health-term", "x-ray".to_owned())]
        );
    }
}
