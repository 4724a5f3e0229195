//! A round-trip report as JUnit XML, the format CI systems (GitLab, Jenkins, GitHub
//! test reporters, Buildkite) show natively: one test case per revision, the diff or
//! the error as the failure's text.
//!
//! The schema is the de-facto one those tools read (`testsuites` > `testsuite` >
//! `testcase` with `failure`, `skipped` and `system-out`), written by hand: it is a
//! few elements, and the only care needed is escaping.

use std::fmt::Write as _;

use super::RoundTripReport;

/// Renders `report` as a JUnit XML document; `total_ms` is the whole run's duration.
pub fn to_junit(report: &RoundTripReport, total_ms: u128) -> String {
    let tests = report.revisions.len();
    let failures = report.failures().count();
    let skipped = report
        .revisions
        .iter()
        .filter(|r| r.outcome.is_skip())
        .count();
    let time = seconds(Some(total_ms));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"retort test-migration\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"test-migration\" tests=\"{tests}\" failures=\"{failures}\" \
         errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">"
    );
    for r in &report.revisions {
        let spent = [r.upgrade_ms, r.downgrade_ms, r.again_ms, r.check_ms]
            .iter()
            .flatten()
            .sum::<u128>();
        let _ = write!(
            out,
            "    <testcase classname=\"test-migration\" name=\"{}\" file=\"{}\" time=\"{}\"",
            escape(&format!("{} {}", r.revision, r.message)),
            escape(&r.path),
            seconds(Some(spent)),
        );
        let note = r.note.as_deref().unwrap_or_default();
        let body = [r.error.as_deref(), r.diff.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let message = if note.is_empty() {
            r.outcome.as_str().to_owned()
        } else {
            format!("{}: {note}", r.outcome.as_str())
        };
        if r.outcome.is_failure(report.strict) {
            let _ = write!(
                out,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                escape(r.outcome.as_str()),
                escape(&message),
                escape(&body)
            );
        } else if r.outcome.is_skip() {
            let _ = write!(
                out,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                escape(&message)
            );
        } else if !note.is_empty() || !body.is_empty() {
            // Passed with something to say (order-only, a restored state): shown as output.
            let text = [note, body.as_str()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            let _ = write!(
                out,
                ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                escape(&format!("{}: {text}", r.outcome.as_str()))
            );
        } else {
            out.push_str("/>\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Milliseconds as the seconds JUnit expects.
fn seconds(ms: Option<u128>) -> String {
    let ms = ms.unwrap_or(0);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Escapes text for an XML attribute or element, and drops the control characters XML
/// 1.0 cannot carry at all (a revision's SQL may hold them).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip::{Outcome, RevisionResult};

    fn result(revision: &str, outcome: Outcome) -> RevisionResult {
        RevisionResult {
            revision: revision.into(),
            message: "add <things> & \"stuff\"".into(),
            path: format!("versions/{revision}_x.sql"),
            outcome,
            upgrade_ms: Some(1200),
            downgrade_ms: Some(5),
            again_ms: None,
            check_ms: Some(30),
            diff: None,
            error: None,
            note: None,
        }
    }

    fn report(revisions: Vec<RevisionResult>, strict: bool) -> RoundTripReport {
        RoundTripReport {
            each: true,
            strict,
            revisions,
            diff: None,
            upgrade_ms: 0,
            downgrade_ms: 0,
            again_ms: 0,
            check_ms: 0,
            inspections: Default::default(),
        }
    }

    #[test]
    fn one_case_per_revision_with_failures_and_skips_counted() {
        let mut differs = result("0002_b", Outcome::Differs);
        differs.diff = Some("-CREATE INDEX i ON t (a)\n+\u{1}x".into());
        differs.note = Some("the downgrade does not restore the schema".into());
        let mut not_run = result("0003_c", Outcome::NotRun);
        not_run.note = Some("0002_b failed".into());
        let xml = to_junit(
            &report(vec![result("0001_a", Outcome::Ok), differs, not_run], false),
            2500,
        );
        assert!(xml.starts_with("<?xml version=\"1.0\""), "{xml}");
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"2.500\""),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"0001_a add &lt;things&gt; &amp; &quot;stuff&quot;\""),
            "{xml}"
        );
        assert!(xml.contains("time=\"1.235\"/>"), "{xml}");
        assert!(
            xml.contains("<failure type=\"differs\" message=\"differs: the downgrade does not restore the schema\">-CREATE INDEX i ON t (a)\n+x</failure>"),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"not run: 0002_b failed\"/>"),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(xml.trim_end().ends_with("</testsuites>"));
    }

    #[test]
    fn order_only_passes_with_output_unless_strict() {
        let mut order = result("0001_a", Outcome::OrderOnly);
        order.diff = Some("-    a int,\n+    a int".into());
        let lenient = to_junit(&report(vec![order.clone()], false), 0);
        assert!(lenient.contains("failures=\"0\""), "{lenient}");
        assert!(lenient.contains("<system-out>order-only: "), "{lenient}");
        let strict = to_junit(&report(vec![order], true), 0);
        assert!(strict.contains("failures=\"1\""), "{strict}");
        assert!(strict.contains("<failure type=\"order-only\""), "{strict}");
    }
}
