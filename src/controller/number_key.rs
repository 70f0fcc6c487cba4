//! This installation's key for the phone-number identifiers in status: kept in a Secret in the
//! operator's own namespace, created with a random key the first time the operator starts. Every
//! replica, and every restart, reads the same key, so the identifiers stay stable. The key never
//! leaves the process: it is not logged, and status shows only identifiers made with it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::account::{NUMBER_ID_KEY_LEN, NumberIds};

/// The key of the Secret's data that holds the key.
pub const DATA_KEY: &str = "key";

/// Why the key cannot be had (yet).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "Secret {namespace}/{name} has no non-empty data key `{DATA_KEY}`; delete it to have a new key generated, or put one there"
    )]
    Malformed { namespace: String, name: String },
}

/// The identifiers under the key in Secret `namespace/name`, which is created with a random key
/// when it does not exist. Two replicas starting at once both end up with the one that was created
/// first.
pub async fn load_or_create(client: &Client, namespace: &str, name: &str) -> Result<NumberIds, KeyError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let kube_error = |source: kube::Error| KeyError::Kube {
        namespace: namespace.to_string(),
        name: name.to_string(),
        source: Box::new(source),
    };
    let secret = match api.get_opt(name).await.map_err(kube_error)? {
        Some(secret) => secret,
        None => match api.create(&PostParams::default(), &new_secret(name)).await {
            Ok(created) => created,
            Err(kube::Error::Api(status)) if status.code == 409 => api.get(name).await.map_err(kube_error)?,
            Err(e) => return Err(kube_error(e)),
        },
    };
    key_of(&secret).map(NumberIds::new).ok_or_else(|| KeyError::Malformed {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

fn key_of(secret: &Secret) -> Option<&[u8]> {
    let key = &secret.data.as_ref()?.get(DATA_KEY)?.0;
    (!key.is_empty()).then_some(key.as_slice())
}

/// A Secret holding a fresh random key. Immutable: a changed key would change every identifier,
/// so changing it takes deleting the Secret and restarting the operator.
fn new_secret(name: &str) -> Secret {
    let key = rand::random::<[u8; NUMBER_ID_KEY_LEN]>().to_vec();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "cognito-sms-operator".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        immutable: Some(true),
        type_: Some("Opaque".to_string()),
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), ByteString(key))])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_secret_holds_a_random_key_that_never_changes() {
        let (a, b) = (new_secret("k"), new_secret("k"));
        assert_eq!(key_of(&a).map(<[u8]>::len), Some(NUMBER_ID_KEY_LEN));
        assert_ne!(key_of(&a), key_of(&b));
        assert_eq!(a.immutable, Some(true));
    }

    #[test]
    fn a_secret_without_the_key_has_none() {
        let mut s = new_secret("k");
        s.data.as_mut().unwrap().insert(DATA_KEY.into(), ByteString(vec![]));
        assert_eq!(key_of(&s), None);
        s.data = None;
        assert_eq!(key_of(&s), None);
    }
}
