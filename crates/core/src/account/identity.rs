//! The origination identity a resource names, in any of the forms it may take, resolved to the
//! account's identity and its ARN. Pure.

use super::{AccountSms, Identity, IdentityKind, mask};

/// How `spec.endUserMessaging.originationIdentity` names an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRef<'a> {
    Arn(&'a str),
    /// An E.164 phone number.
    Number(&'a str),
    PhoneNumberId(&'a str),
    PoolId(&'a str),
    SenderId {
        sender_id: &'a str,
        country: &'a str,
    },
}

impl<'a> IdentityRef<'a> {
    /// Read a reference written as the CRD schema allows.
    pub fn parse(reference: &'a str) -> Option<Self> {
        if reference.starts_with("arn:") {
            Some(IdentityRef::Arn(reference))
        } else if reference.starts_with('+') {
            Some(IdentityRef::Number(reference))
        } else if reference.starts_with("phone-") {
            Some(IdentityRef::PhoneNumberId(reference))
        } else if reference.starts_with("pool-") {
            Some(IdentityRef::PoolId(reference))
        } else {
            let (sender_id, country) = reference.split_once('/')?;
            Some(IdentityRef::SenderId { sender_id, country })
        }
    }

    fn matches(self, identity: &Identity) -> bool {
        match self {
            IdentityRef::Arn(arn) => identity.arn == arn,
            IdentityRef::Number(n) => identity.number.as_deref() == Some(n),
            IdentityRef::PhoneNumberId(id) => {
                matches!(identity.kind, IdentityKind::PhoneNumber(_)) && identity.id == id
            }
            IdentityRef::PoolId(id) => matches!(identity.kind, IdentityKind::Pool { .. }) && identity.id == id,
            IdentityRef::SenderId { sender_id, country } => {
                identity.kind == IdentityKind::SenderId
                    && identity.id == sender_id
                    && identity.country.as_deref() == Some(country)
            }
        }
    }

    /// What a person calls it; phone numbers masked.
    fn describe(self) -> String {
        match self {
            IdentityRef::Arn(arn) => arn.to_string(),
            IdentityRef::Number(n) => format!("phone number {}", mask(n)),
            IdentityRef::PhoneNumberId(id) => format!("phone number {id}"),
            IdentityRef::PoolId(id) => format!("pool {id}"),
            IdentityRef::SenderId { sender_id, country } => format!("sender ID {sender_id} for {country}"),
        }
    }
}

/// The account's identity that `reference` names, or why there is none.
pub fn resolve<'a>(account: &'a AccountSms, reference: &str, region: &str) -> Result<&'a Identity, String> {
    let Some(parsed) = IdentityRef::parse(reference) else {
        return Err(format!(
            "{reference:?} is not an E.164 number, a phone-… or pool-… ID, SENDERID/COUNTRY or an ARN"
        ));
    };
    account.identities.iter().find(|i| parsed.matches(i)).ok_or_else(|| {
        format!(
            "{} is not an origination identity of the account in AWS End User Messaging SMS in {region}: \
                 fix spec.endUserMessaging.originationIdentity or request the identity in the console",
            parsed.describe()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{account, number};
    use super::super::{NumberType, PoolMember};
    use super::*;

    #[test]
    fn every_form_resolves_to_the_same_arn() {
        let phone = number("+12065550100", NumberType::TenDlc, "US");
        let sender = Identity {
            kind: IdentityKind::SenderId,
            arn: "arn:aws:sms-voice:us-east-1:123456789012:sender-id/MyBrand/GB".into(),
            id: "MyBrand".into(),
            number: None,
            country: Some("GB".into()),
            message_type: None,
            capabilities: vec!["SMS".into()],
            status: None,
        };
        let pool = Identity {
            kind: IdentityKind::Pool {
                members: vec![PoolMember {
                    country: Some("US".into()),
                    capabilities: vec!["SMS".into()],
                }],
            },
            arn: "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-abc".into(),
            id: "pool-abc".into(),
            number: None,
            country: None,
            message_type: None,
            capabilities: vec![],
            status: Some("ACTIVE".into()),
        };
        let a = account(vec![phone.clone(), sender.clone(), pool.clone()]);
        let arn_of = |r: &str| resolve(&a, r, "us-east-1").map(|i| i.arn.clone());
        for form in ["+12065550100", phone.id.as_str(), phone.arn.as_str()] {
            assert_eq!(arn_of(form), Ok(phone.arn.clone()), "{form}");
        }
        for form in ["MyBrand/GB", sender.arn.as_str()] {
            assert_eq!(arn_of(form), Ok(sender.arn.clone()), "{form}");
        }
        for form in ["pool-abc", pool.arn.as_str()] {
            assert_eq!(arn_of(form), Ok(pool.arn.clone()), "{form}");
        }
        let missing = arn_of("+12065550199").unwrap_err();
        assert!(
            missing.contains("phone number +*******0199 is not an origination identity"),
            "{missing}"
        );
        assert!(arn_of("MyBrand/US").is_err(), "a sender ID is registered per country");
        assert!(arn_of("pool-other").is_err());
    }
}
