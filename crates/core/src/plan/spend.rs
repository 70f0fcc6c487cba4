//! Spend headroom: the month's SMS spend against the monthly limit in every region the pool sends
//! through (the primary's and each configurable secondary's), so that the limit can be raised
//! before AWS stops sending. It warns only: part of neither `Ready` nor `ProductionReady`.

use super::Draft;
use super::observed::Observed;
use crate::account;
use crate::conditions::{ConditionStatus, Finding, reasons};
use crate::desired::Desired;

/// `status.spend` and `SpendHeadroom`: the worst region's finding (False, then Unknown), else the
/// primary's.
pub(super) fn plan(draft: &mut Draft, spec: &Desired, observed: &Observed) -> Finding {
    let mut regions = vec![(spec.sms_region().to_string(), spec.delivery_path())];
    for (replica, _) in &observed.replica_pools {
        let Some(sends) = spec.secondary_sends_through(&replica.region) else {
            continue;
        };
        if !regions.contains(&sends) {
            regions.push(sends);
        }
    }
    let mut findings = vec![];
    draft.status.spend.clear();
    for (region, path) in regions {
        let Some(sms) = observed.account_in(&region, spec.sms_region()) else {
            let msg = format!("the account's SMS state in {region} was not read");
            findings.push(Finding::unknown(reasons::SPEND_UNKNOWN, msg));
            continue;
        };
        let (row, finding) = account::headroom(sms, path, &region, spec.spend_warning_percent);
        draft.status.spend.extend(row);
        findings.push(finding);
    }
    let worst = |status| findings.iter().find(|f| f.status == status).cloned();
    worst(ConditionStatus::False)
        .or_else(|| worst(ConditionStatus::Unknown))
        .or_else(|| findings.first().cloned())
        .unwrap_or_else(|| Finding::unknown(reasons::SPEND_UNKNOWN, "no region to read"))
}
