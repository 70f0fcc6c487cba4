//! A multi-Region user pool's replicas, as `ListUserPoolReplicas` lists them: the primary and, at
//! most, one secondary in another Region, sharing the pool's ID. Each Region keeps its own SMS
//! configuration.

/// One Region of a user pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub region: String,
    pub role: ReplicaRole,
    pub status: ReplicaStatus,
    /// The pool's ARN in this Region: this Region with the primary's pool ID.
    pub arn: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    Primary,
    Secondary,
}

/// Where a replica is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaStatus {
    Creating,
    Active,
    Inactive,
    Deleting,
    /// A status this build does not know, as AWS gave it.
    Other(String),
}

impl ReplicaStatus {
    /// The status as AWS writes it.
    pub fn parse(value: &str) -> Self {
        match value {
            "CREATING" => ReplicaStatus::Creating,
            "ACTIVE" => ReplicaStatus::Active,
            "INACTIVE" => ReplicaStatus::Inactive,
            "DELETING" => ReplicaStatus::Deleting,
            other => ReplicaStatus::Other(other.to_string()),
        }
    }

    /// Whether its SMS configuration can be written now: `ACTIVE` and `INACTIVE` replicas take
    /// `UpdateUserPool`; a `CREATING` or `DELETING` one waits.
    pub fn configurable(&self) -> bool {
        matches!(self, ReplicaStatus::Active | ReplicaStatus::Inactive)
    }
}

impl std::fmt::Display for ReplicaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplicaStatus::Creating => "CREATING",
            ReplicaStatus::Active => "ACTIVE",
            ReplicaStatus::Inactive => "INACTIVE",
            ReplicaStatus::Deleting => "DELETING",
            ReplicaStatus::Other(other) => other,
        })
    }
}

/// The secondaries among `replicas`.
pub fn secondaries(replicas: &[Replica]) -> impl Iterator<Item = &Replica> {
    replicas.iter().filter(|r| r.role == ReplicaRole::Secondary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_and_inactive_replicas_are_configured_now() {
        let configurable: Vec<bool> = ["CREATING", "ACTIVE", "INACTIVE", "DELETING", "PAUSED"]
            .into_iter()
            .map(|s| ReplicaStatus::parse(s).configurable())
            .collect();
        assert_eq!(configurable, [false, true, true, false, false]);
        assert_eq!(ReplicaStatus::parse("PAUSED").to_string(), "PAUSED");
    }
}
