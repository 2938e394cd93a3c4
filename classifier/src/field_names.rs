//! Field names that say what a field holds (`ssn`, `card_number`, `diagnosis`, `password`),
//! so structured data is classified even when its values are empty, masked or tokenised.

use openshell_policy::wire::{DataType, Sensitivity};

/// What a field name reveals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldMeaning {
    /// The data type the field holds.
    pub data_type: DataType,
    /// The sensitivity of a value in that field.
    pub sensitivity: Sensitivity,
    /// How sure the name alone makes us.
    pub confidence: f32,
}

use DataType::{Credentials, Financial, Health, PaymentCard, Personal};
use Sensitivity::{Confidential, Restricted};

/// Normalised names (lower case, `_`, `-`, `.` and spaces removed) and what they hold.
const FIELDS: &[(&str, DataType, Sensitivity)] = &[
    ("email", Personal, Confidential),
    ("emailaddress", Personal, Confidential),
    ("phone", Personal, Confidential),
    ("phonenumber", Personal, Confidential),
    ("mobile", Personal, Confidential),
    ("telephone", Personal, Confidential),
    ("address", Personal, Confidential),
    ("streetaddress", Personal, Confidential),
    ("homeaddress", Personal, Confidential),
    ("postcode", Personal, Confidential),
    ("zipcode", Personal, Confidential),
    ("dob", Personal, Confidential),
    ("dateofbirth", Personal, Confidential),
    ("birthdate", Personal, Confidential),
    ("fullname", Personal, Confidential),
    ("firstname", Personal, Confidential),
    ("lastname", Personal, Confidential),
    ("surname", Personal, Confidential),
    ("customername", Personal, Confidential),
    ("ssn", Personal, Restricted),
    ("socialsecuritynumber", Personal, Restricted),
    ("nino", Personal, Restricted),
    ("nationalid", Personal, Restricted),
    ("nationalidentifier", Personal, Restricted),
    ("passport", Personal, Restricted),
    ("passportnumber", Personal, Restricted),
    ("driverslicense", Personal, Restricted),
    ("taxid", Personal, Restricted),
    ("cardnumber", PaymentCard, Restricted),
    ("creditcard", PaymentCard, Restricted),
    ("creditcardnumber", PaymentCard, Restricted),
    ("ccnumber", PaymentCard, Restricted),
    ("pan", PaymentCard, Restricted),
    ("cvv", PaymentCard, Restricted),
    ("cvc", PaymentCard, Restricted),
    ("iban", Financial, Confidential),
    ("accountnumber", Financial, Confidential),
    ("bankaccount", Financial, Confidential),
    ("routingnumber", Financial, Confidential),
    ("sortcode", Financial, Confidential),
    ("swift", Financial, Confidential),
    ("bic", Financial, Confidential),
    ("salary", Financial, Confidential),
    ("income", Financial, Confidential),
    ("balance", Financial, Confidential),
    ("creditscore", Financial, Confidential),
    ("diagnosis", Health, Confidential),
    ("diagnoses", Health, Confidential),
    ("medication", Health, Confidential),
    ("medications", Health, Confidential),
    ("prescription", Health, Confidential),
    ("icd10", Health, Confidential),
    ("icdcode", Health, Confidential),
    ("allergies", Health, Confidential),
    ("bloodtype", Health, Confidential),
    ("labresults", Health, Confidential),
    ("treatment", Health, Confidential),
    ("medicalrecord", Health, Confidential),
    ("medicalrecordnumber", Health, Confidential),
    ("mrn", Health, Confidential),
    ("healthrecord", Health, Confidential),
    ("condition", Health, Confidential),
    ("password", Credentials, Restricted),
    ("passwd", Credentials, Restricted),
    ("secret", Credentials, Restricted),
    ("apikey", Credentials, Restricted),
    ("accesstoken", Credentials, Restricted),
    ("refreshtoken", Credentials, Restricted),
    ("authtoken", Credentials, Restricted),
    ("privatekey", Credentials, Restricted),
    ("clientsecret", Credentials, Restricted),
    ("authorization", Credentials, Restricted),
];

/// What a field called `name` holds, if its name says so.
pub fn field_meaning(name: &str) -> Option<FieldMeaning> {
    let normalised: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    FIELDS
        .iter()
        .find(|(n, _, _)| *n == normalised)
        .map(|&(_, data_type, sensitivity)| FieldMeaning {
            data_type,
            sensitivity,
            confidence: 0.7,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            field_meaning("Card-Number").unwrap().sensitivity,
            Restricted
        );
        assert_eq!(field_meaning("date_of_birth").unwrap().data_type, Personal);
        assert_eq!(field_meaning("API_KEY").unwrap().data_type, Credentials);
        assert!(field_meaning("colour").is_none());
    }
}
