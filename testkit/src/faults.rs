//! Faults tests ask for: failing the next requests of a verb and resource, and pausing the whole
//! server. (Dropping watches is [`crate::store::Shared::drop_watches`].)

use axum::response::Response;

use crate::response::error;
use crate::store::Shared;

/// A fault a test asked for.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Fault {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, or `*`.
    pub verb: String,
    /// Plural resource name, with `/status` for the subresource, or `*`.
    pub resource: String,
    /// HTTP status to answer with.
    pub status: u16,
    /// How many matching requests fail.
    pub count: u32,
}

impl Shared {
    pub(crate) fn add_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Answer nothing until `d` from now.
    pub(crate) fn pause(&self, d: std::time::Duration) {
        self.lock().paused_until = Some(tokio::time::Instant::now() + d);
    }

    /// Wait out a pause, if one is on.
    pub(crate) async fn wait_while_paused(&self) {
        let pause = self.lock().paused_until;
        if let Some(until) = pause {
            tokio::time::sleep_until(until).await;
        }
    }

    /// The answer to a request that an injected fault fails, counting it off the fault.
    pub(crate) fn injected_fault(&self, verb: &str, resource: &str) -> Option<Response> {
        let code = self.take_fault(verb, resource)?;
        Some(error(
            code,
            "InternalError",
            format!("injected fault for {verb} {resource}"),
        ))
    }

    fn take_fault(&self, verb: &str, resource: &str) -> Option<u16> {
        let mut inner = self.lock();
        let f = inner.faults.iter_mut().find(|f| {
            f.count > 0 && (f.verb == "*" || f.verb == verb) && (f.resource == "*" || f.resource == resource)
        })?;
        f.count -= 1;
        Some(f.status)
    }
}
