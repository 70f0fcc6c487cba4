//! A stand-in for the Kubernetes API server, for tests and the demo: never shipped.
//!
//! It serves, over HTTP on a loopback port, the parts of the API the operator and `kubectl` use,
//! following the API server's documented semantics: custom resources from CRD files (validated
//! against their `openAPIV3Schema` and CEL rules, defaults applied, unknown fields pruned),
//! `resourceVersion` and optimistic concurrency, `generation` bumped on spec changes only, the
//! status subresource, JSON merge patch, JSON patch (with `test`), server-side apply (simplified,
//! see `handlers::patch`), finalizers and `deletionTimestamp`, list with `limit`/`continue` and
//! label and field selectors, watch from a `resourceVersion` with bookmarks, `410 Gone` and
//! timeouts, metadata-only lists and watches, Table output with the CRD's printer columns, and
//! discovery. Built in: Secrets, Events (`events.k8s.io/v1`), Leases, Namespaces.
//! Tests can inject faults (fail or hold requests of a verb and resource), drop watch
//! connections, pause the server, compact its history, and read the log of the requests it
//! served, through [`StandIn`] or the HTTP controls under `/_standin/`.
//!
//! Modules: `server` ([`StandIn`]), `resource` ([`ResourceType`], CRD files), `store` (objects,
//! `resourceVersion`, change history, snapshots), `handlers` (routing, the controls and the
//! verbs), `watch`, `admission` (schema and CEL), `selectors`, `table`, `discovery`, `faults`
//! ([`Fault`]), `requests` ([`RequestRecord`]), and the helpers `response` and `object`.

// Request handlers pass finished HTTP responses up as their error value.
#![allow(clippy::result_large_err)]

mod admission;
mod discovery;
mod faults;
mod handlers;
mod object;
mod requests;
mod resource;
mod response;
mod selectors;
mod server;
mod store;
mod table;
mod watch;

pub use faults::Fault;
pub use requests::{LOG_CAPACITY, RequestCount, RequestRecord};
pub use resource::{ResourceType, crd_files};
pub use server::StandIn;
pub use store::Stats;
pub use watch::WatchStats;
