//! Noise or real: a failed statement about something only the production server has
//! (a role, a privilege, a tablespace) is left out; any other failure is an error.

use super::stderr::Reported;
use super::{RestoreFailure, Skipped};
use crate::sql::quote_ident;

/// How many real errors a [`RestoreError::Errors`] shows; the rest are only counted.
pub(super) const SHOWN_ERRORS: usize = 5;

/// Whether a failure is noise: a statement about something only the production server
/// has. `role "X" does not exist` always is; lacking privileges only for statements
/// that merely hand out ownership or privileges (or comment on objects the restoring
/// user does not own by default); a missing tablespace or security-label provider only
/// for the statements that name them (archives leave those out with
/// --no-tablespaces/--no-security-labels, plain dumps cannot).
pub(crate) fn is_noise(server_message: &str, statement: &str) -> bool {
    let message = server_message.trim();
    if message
        .strip_prefix("role \"")
        .is_some_and(|r| r.ends_with("\" does not exist"))
    {
        return true;
    }
    let statement = statement.trim().to_ascii_uppercase();
    let privileges = [
        "must be owner of ",
        "permission denied",
        "must be member of role ",
        "must be able to SET ROLE ",
    ]
    .iter()
    .any(|p| message.starts_with(p));
    if privileges {
        let hands_out = (statement.starts_with("ALTER ") && statement.contains(" OWNER TO "))
            || statement.starts_with("GRANT ")
            || statement.starts_with("REVOKE ")
            || statement.starts_with("ALTER DEFAULT PRIVILEGES ")
            || statement.starts_with("COMMENT ON EXTENSION ")
            || statement.starts_with("COMMENT ON SCHEMA PUBLIC ");
        return hands_out;
    }
    (statement.starts_with("SET DEFAULT_TABLESPACE ")
        && message.starts_with("invalid value for parameter \"default_tablespace\""))
        || (statement.starts_with("SECURITY LABEL ")
            && message.starts_with("security label provider"))
}

#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) skipped: Vec<Skipped>,
    pub(super) real_total: usize,
    pub(super) shown: Vec<RestoreFailure>,
}

impl Outcome {
    /// Adds a later pass's outcome to this one.
    pub(super) fn absorb(&mut self, later: Outcome) {
        self.skipped.extend(later.skipped);
        self.real_total += later.real_total;
        let room = SHOWN_ERRORS.saturating_sub(self.shown.len());
        self.shown.extend(later.shown.into_iter().take(room));
    }
}

/// Sorts reported failures into noise and real errors. `counted` is the program's own
/// error count (pg_restore's summary): failures it counted beyond those parsed are real,
/// since nothing says they are noise.
pub(super) fn classify(records: Vec<Reported>, counted: usize) -> Outcome {
    let parsed = records.len();
    let mut outcome = Outcome {
        skipped: Vec::new(),
        real_total: counted.saturating_sub(parsed),
        shown: Vec::new(),
    };
    for record in records {
        let noise = is_noise(&record.server_message, &record.statement)
            || comments_on_skipped_policy(&record, &outcome.skipped);
        let location = record
            .location
            .unwrap_or_else(|| "(no location)".to_owned());
        if noise {
            outcome.skipped.push(Skipped {
                location,
                message: record.server_message,
                statement: record.statement,
            });
        } else {
            outcome.real_total += 1;
            if outcome.shown.len() < SHOWN_ERRORS {
                outcome.shown.push(RestoreFailure {
                    location,
                    message: record.message,
                    detail: record.detail,
                    statement: record.statement,
                });
            }
        }
    }
    outcome
}

/// A comment on a policy whose `CREATE POLICY` was skipped (it named a missing role)
/// fails because the policy is not there: that failure follows from the noise and is
/// noise too. The policy is recognised the way pg_dump writes its name (quoted only when
/// needed).
fn comments_on_skipped_policy(record: &Reported, skipped: &[Skipped]) -> bool {
    let Some(name) = record
        .server_message
        .strip_prefix("policy \"")
        .and_then(|rest| rest.split_once("\" for table \""))
        .map(|(name, _)| name)
    else {
        return false;
    };
    let statement = record.statement.trim_start();
    if !statement
        .get(..18)
        .is_some_and(|start| start.eq_ignore_ascii_case("COMMENT ON POLICY "))
    {
        return false;
    }
    let created = format!("CREATE POLICY {} ON ", quote_ident(name));
    skipped.iter().any(|s| s.statement.starts_with(&created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(server_message: &str, statement: &str) -> Reported {
        Reported {
            location: Some("TOC entry 1".to_owned()),
            line: None,
            message: server_message.to_owned(),
            server_message: server_message.to_owned(),
            detail: Vec::new(),
            statement: statement.to_owned(),
        }
    }

    #[test]
    fn a_comment_on_a_skipped_policy_is_noise_and_no_other_is() {
        let records = vec![
            reported(
                "role \"gone\" does not exist",
                "CREATE POLICY \"P 1\" ON public.t TO gone USING (true);",
            ),
            reported(
                "policy \"P 1\" for table \"t\" does not exist",
                "COMMENT ON POLICY \"P 1\" ON public.t IS 'x';",
            ),
            // Another policy's comment: its policy was never skipped, so this is real.
            reported(
                "policy \"q\" for table \"t\" does not exist",
                "COMMENT ON POLICY q ON public.t IS 'y';",
            ),
        ];
        let outcome = classify(records, 3);
        assert_eq!(outcome.skipped.len(), 2, "{outcome:?}");
        assert_eq!(outcome.real_total, 1);
        assert_eq!(
            outcome.shown[0].statement,
            "COMMENT ON POLICY q ON public.t IS 'y';"
        );
    }

    #[test]
    fn noise_is_only_roles_and_privilege_statements() {
        assert!(is_noise(
            "role \"rdsadmin\" does not exist",
            "CREATE POLICY p ON t TO rdsadmin;"
        ));
        assert!(is_noise(
            "must be owner of table t",
            "ALTER TABLE public.t OWNER TO x;"
        ));
        assert!(is_noise(
            "permission denied for table t",
            "REVOKE ALL ON TABLE t FROM x;"
        ));
        assert!(is_noise(
            "must be owner of schema public",
            "COMMENT ON SCHEMA public IS 'standard public schema';"
        ));
        assert!(!is_noise(
            "must be owner of schema app",
            "COMMENT ON SCHEMA app IS 'x';"
        ));
        assert!(!is_noise(
            "must be owner of table t",
            "ALTER TABLE public.t ADD COLUMN c int;"
        ));
        assert!(!is_noise(
            "permission denied to create extension \"x\"",
            "CREATE EXTENSION x;"
        ));
        assert!(!is_noise(
            "type \"nosuch\" does not exist",
            "CREATE TABLE t (c nosuch);"
        ));
        assert!(!is_noise(
            "relation \"role\" does not exist",
            "SELECT * FROM role;"
        ));
        assert!(is_noise(
            "invalid value for parameter \"default_tablespace\": \"fast\"",
            "SET default_tablespace = fast;"
        ));
    }
}
