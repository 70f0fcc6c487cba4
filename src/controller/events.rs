//! Events about resources, as `events.k8s.io/v1` Events, each created once.
//!
//! kube's `Recorder` keeps every Event it published in the last six minutes, to turn repeats into
//! a series, and sweeps that cache on every publish. The operator never repeats an Event: each
//! AWS change is published once, and a Warning only when the problem changes. So the cache would
//! only cost memory and time: 15,000 Events and a sweep of them per publish while 5,000 new
//! resources converge.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::runtime::events::EventType;
use kube::{Api, Client};

/// The longest note the API server accepts on an Event, in bytes.
pub const MAX_NOTE_BYTES: usize = 1024;

/// `message` as an Event's note: whole when it fits in [`MAX_NOTE_BYTES`], else cut at a
/// character boundary and ended with an ellipsis. Conditions keep the whole message.
pub fn note(message: &str) -> String {
    const ELLIPSIS: &str = "…";
    if message.len() <= MAX_NOTE_BYTES {
        return message.to_string();
    }
    let mut cut = MAX_NOTE_BYTES - ELLIPSIS.len();
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ELLIPSIS}", message[..cut].trim_end())
}

#[derive(Clone)]
pub struct Events {
    client: Client,
    controller: String,
    instance: String,
}

impl Events {
    /// Events reported by `controller`, from `instance` (the Pod) when it is known.
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Events {
            client,
            controller: controller.into(),
            instance: instance.unwrap_or_else(|| controller.into()),
        }
    }

    /// Create an Event about `regarding` in its namespace, its note cut to what the API server
    /// accepts.
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(&self.controller),
            now.as_nanosecond()
        );
        let event = Event {
            action: Some("Reconcile".into()),
            reason: Some(reason.into()),
            note: Some(self::note(&note)),
            event_time: Some(MicroTime(now)),
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            type_: Some(
                match type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            regarding: Some(regarding),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &event).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_that_fits_is_kept_whole() {
        let exact = "x".repeat(MAX_NOTE_BYTES);
        assert_eq!(note(&exact), exact);
        assert_eq!(note("short"), "short");
    }

    #[test]
    fn a_longer_note_is_cut_within_the_limit_with_an_ellipsis() {
        let long = "word ".repeat(2000);
        let cut = note(&long);
        assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'), "{cut}");
        assert!(long.starts_with(cut.trim_end_matches('…')));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        // Four-byte characters put every possible cut inside one.
        for offset in 0..4 {
            let long = format!("{}{}", "a".repeat(offset), "😀".repeat(400));
            let cut = note(&long);
            assert!(cut.len() <= MAX_NOTE_BYTES);
            assert!(cut.ends_with('…'));
        }
    }
}
