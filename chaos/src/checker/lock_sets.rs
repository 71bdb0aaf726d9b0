//! A lock set is granted all or nothing:
//!
//! - a granted set's answer gives every member asked for a fencing token;
//! - in the audit trail, each set's `acquired` rows come from one statement
//!   (one `occurred_at`) and one acquire (its `X-Request-Id`), and name
//!   exactly the members that acquire asked for; an acknowledged set has its
//!   rows there, and a set refused at its only attempt has none.
//!
//! Its members' windows join the locks' in the mutual-exclusion check.

use std::collections::HashMap;

use super::Report;
use crate::history::{Kind, Op, Outcome};

/// One set's `acquired` rows in `lock_events`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetGrant {
    pub set_id: String,
    pub request_ids: Vec<String>,
    /// Lock numbers, sorted.
    pub members: Vec<u32>,
    /// Distinct `occurred_at`s: one per statement.
    pub statements: i64,
}

pub fn answers(ops: &[Op], report: &mut Report) {
    let granted = ops.iter().filter(|op| op.kind == Kind::SetAcquire && op.outcome == Outcome::Ok);
    for op in granted {
        report.lock_sets_granted += 1;
        let whole =
            op.member_tokens.len() == op.members.len() && op.member_tokens.iter().all(Option::is_some);
        if !whole || op.set_id.is_none() {
            report.lock_set_violations += 1;
            report.example(format!(
                "client {} was granted a set of locks {:?} with tokens {:?}",
                op.client, op.members, op.member_tokens
            ));
        }
    }
}

pub fn trail(ops: &[Op], grants: &[SetGrant], report: &mut Report) {
    let asked: HashMap<&str, &Op> = ops
        .iter()
        .filter(|op| op.kind == Kind::SetAcquire)
        .filter_map(|op| Some((op.request_id.as_deref()?, op)))
        .collect();
    let mut found = HashMap::new();
    for grant in grants {
        report.lock_set_grants_in_trail += 1;
        let op = match grant.request_ids.as_slice() {
            [id] => asked.get(id.as_str()),
            _ => None,
        };
        let problem = match op {
            None => Some("no one acquire".to_owned()),
            Some(op) => {
                found.insert(op.request_id.as_deref(), grant);
                judge(op, grant)
            }
        };
        if let Some(problem) = problem {
            report.lock_set_violations += 1;
            report.example(format!("lock set {} in the audit trail: {problem}", grant.set_id));
        }
    }
    let acknowledged = asked.values().filter(|op| op.outcome == Outcome::Ok);
    for op in acknowledged.filter(|op| !found.contains_key(&op.request_id.as_deref())) {
        report.lock_set_violations += 1;
        report.example(format!(
            "client {}'s acknowledged set {:?} is not in the audit trail",
            op.client, op.set_id
        ));
    }
}

/// What is wrong with `grant`, the audited grant of `op`'s request.
fn judge(op: &Op, grant: &SetGrant) -> Option<String> {
    let mut asked = op.members.clone();
    asked.sort_unstable();
    if grant.members != asked {
        return Some(format!("granted locks {:?}, asked for {asked:?}", grant.members));
    }
    if grant.statements != 1 {
        return Some(format!("granted in {} statements", grant.statements));
    }
    if op.outcome == Outcome::Ok && op.set_id.as_deref() != Some(grant.set_id.as_str()) {
        return Some(format!("the client was answered set {:?}", op.set_id));
    }
    let refused_outright = op.outcome == Outcome::Fail && op.attempts == 1 && op.status == Some(409);
    refused_outright.then(|| format!("client {} was refused it (409)", op.client))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(client: u32, members: &[u32], outcome: Outcome, tokens: &[Option<i64>]) -> Op {
        let mut op = Op::new(client, Kind::SetAcquire, members[0], 1, 0);
        (op.members, op.member_tokens, op.outcome) = (members.to_vec(), tokens.to_vec(), outcome);
        (op.request_id, op.attempts, op.status) = (Some(format!("r{client}")), 1, Some(201));
        op.set_id = (outcome == Outcome::Ok).then(|| format!("s{client}"));
        op
    }

    fn grant(client: u32, members: &[u32], statements: i64) -> SetGrant {
        let request_ids = vec![format!("r{client}")];
        SetGrant { set_id: format!("s{client}"), request_ids, members: members.to_vec(), statements }
    }

    fn violations(ops: &[Op], grants: &[SetGrant]) -> usize {
        let mut report = Report::default();
        answers(ops, &mut report);
        trail(ops, grants, &mut report);
        report.lock_set_violations
    }

    #[test]
    fn a_whole_grant_in_one_statement_passes() {
        let ops = [set(1, &[3, 1], Outcome::Ok, &[Some(7), Some(8)])];
        assert_eq!(violations(&ops, &[grant(1, &[1, 3], 1)]), 0);
    }

    #[test]
    fn a_member_missing_from_the_answer_or_the_trail_is_a_violation() {
        let partial_answer = [set(1, &[3, 1], Outcome::Ok, &[Some(7), None])];
        assert_eq!(violations(&partial_answer, &[grant(1, &[1, 3], 1)]), 1);
        let whole = [set(1, &[3, 1], Outcome::Ok, &[Some(7), Some(8)])];
        assert_eq!(violations(&whole, &[grant(1, &[1], 1)]), 1);
        assert_eq!(violations(&whole, &[grant(1, &[1, 3], 2)]), 1, "two statements");
        assert_eq!(violations(&whole, &[]), 1, "acknowledged but not audited");
    }

    #[test]
    fn a_set_refused_at_its_only_attempt_must_have_taken_nothing() {
        let mut refused = set(1, &[2, 4], Outcome::Fail, &[]);
        refused.status = Some(409);
        assert_eq!(violations(&[refused.clone()], &[]), 0);
        assert_eq!(violations(&[refused], &[grant(1, &[2, 4], 1)]), 1);
    }
}
