//! How a column's values reach a new type in `ALTER COLUMN ... TYPE ... USING`.
//!
//! Writing `USING col::new_type` for every change is wrong when PostgreSQL has no cast
//! between the two types (`bytea` to `jsonb`, `double precision` to `json`): the revision
//! is generated, reviewed and only fails in deploy. The diff engine is pure, so the
//! decision is made here from what is known without a server:
//!
//! - the casts between built-in types, a copy of the rows of PostgreSQL's own `pg_cast`
//!   (stable across majors for the types a column can have, multiranges aside, which
//!   only exist from 14; the `reg*` and internal `pg_*` types are left out; a test
//!   compares the copy with the test server's catalog), plus the user-defined casts the
//!   catalog inspected;
//! - PostgreSQL's automatic I/O conversion: any type converts to a string type (`text`,
//!   `varchar`, `char`, `name`), and a string type to any type, explicitly;
//! - a detour through `text` where every value's text form is input of the new type
//!   (integers and booleans to `json`/`jsonb`; floats too, except NaN and Infinity);
//! - enums, and the composite and range types the schemas define: through `text`, as
//!   the engine always did for enums, since only the text forms can be compared without
//!   the server;
//! - types an extension provides: the plain cast, as before. Their casts belong to the
//!   extension, which the catalog does not read, so only the server knows them; one that
//!   does not exist is rejected before a row is read.
//!
//! Arrays follow their elements (PostgreSQL coerces arrays element by element). What is
//! left has no conversion: the change becomes a manual step for the user to write.

use crate::catalog::{qn, Schema};

/// How `ALTER COLUMN ... TYPE` converts the old values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CastPath {
    /// A cast PostgreSQL has: `USING col::to` (or no `USING` for a binary-coercible change).
    Direct,
    /// Through another type first: `USING col::through::to` (`through[]` for arrays).
    Via {
        /// The intermediate type as SQL spells it (`text`, `jsonb`), without `[]`.
        through: &'static str,
        /// Values the second step rejects, when some can fail although the types agree.
        fails_on: Option<&'static str>,
    },
    /// No conversion exists: the user must write the `USING` expression.
    Manual {
        /// An expression that often is what is wanted, with `{col}` for the column.
        hint: Option<&'static str>,
    },
}

/// The decision for one type change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// How `USING` converts the values.
    pub path: CastPath,
    /// Every value survives (decided here only for the detours this module adds;
    /// otherwise the caller's own widening rules apply).
    pub lossless: bool,
}

impl Conversion {
    fn direct() -> Conversion {
        Conversion {
            path: CastPath::Direct,
            lossless: false,
        }
    }

    fn via(through: &'static str, fails_on: Option<&'static str>, lossless: bool) -> Conversion {
        Conversion {
            path: CastPath::Via { through, fails_on },
            lossless,
        }
    }

    fn manual(hint: Option<&'static str>) -> Conversion {
        Conversion {
            path: CastPath::Manual { hint },
            lossless: false,
        }
    }
}

/// Casts between built-in types (`format_type` names without typmod) that every
/// supported major (13 to 18) has, from `pg_cast`: `SELECT castsource::regtype,
/// casttarget::regtype FROM pg_cast WHERE castsource <> casttarget`. Those to or from a
/// string type are listed although the I/O rule covers them, so that the table stays a
/// faithful copy. The casts only some majors have are in [`MAJOR_SPECIFIC_CASTS`].
const BUILTIN_CASTS: &[(&str, &str)] = &[
    ("\"char\"", "character"),
    ("\"char\"", "character varying"),
    ("\"char\"", "integer"),
    ("\"char\"", "text"),
    ("bigint", "bit"),
    ("bigint", "double precision"),
    ("bigint", "integer"),
    ("bigint", "money"),
    ("bigint", "numeric"),
    ("bigint", "oid"),
    ("bigint", "real"),
    ("bigint", "smallint"),
    ("bit", "bigint"),
    ("bit", "bit varying"),
    ("bit", "integer"),
    ("bit varying", "bit"),
    ("boolean", "character"),
    ("boolean", "character varying"),
    ("boolean", "integer"),
    ("boolean", "text"),
    ("box", "circle"),
    ("box", "lseg"),
    ("box", "point"),
    ("box", "polygon"),
    ("character", "\"char\""),
    ("character", "character varying"),
    ("character", "name"),
    ("character", "text"),
    ("character", "xml"),
    ("character varying", "\"char\""),
    ("character varying", "character"),
    ("character varying", "name"),
    ("character varying", "text"),
    ("character varying", "xml"),
    ("cidr", "character"),
    ("cidr", "character varying"),
    ("cidr", "inet"),
    ("cidr", "text"),
    ("circle", "box"),
    ("circle", "point"),
    ("circle", "polygon"),
    ("date", "timestamp with time zone"),
    ("date", "timestamp without time zone"),
    ("daterange", "datemultirange"),
    ("double precision", "bigint"),
    ("double precision", "integer"),
    ("double precision", "numeric"),
    ("double precision", "real"),
    ("double precision", "smallint"),
    ("inet", "character"),
    ("inet", "character varying"),
    ("inet", "cidr"),
    ("inet", "text"),
    ("int4range", "int4multirange"),
    ("int8range", "int8multirange"),
    ("integer", "\"char\""),
    ("integer", "bigint"),
    ("integer", "bit"),
    ("integer", "boolean"),
    ("integer", "double precision"),
    ("integer", "money"),
    ("integer", "numeric"),
    ("integer", "oid"),
    ("integer", "real"),
    ("integer", "smallint"),
    ("interval", "time without time zone"),
    ("json", "jsonb"),
    ("jsonb", "bigint"),
    ("jsonb", "boolean"),
    ("jsonb", "double precision"),
    ("jsonb", "integer"),
    ("jsonb", "json"),
    ("jsonb", "numeric"),
    ("jsonb", "real"),
    ("jsonb", "smallint"),
    ("lseg", "point"),
    ("macaddr", "macaddr8"),
    ("macaddr8", "macaddr"),
    ("money", "numeric"),
    ("name", "character"),
    ("name", "character varying"),
    ("name", "text"),
    ("numeric", "bigint"),
    ("numeric", "double precision"),
    ("numeric", "integer"),
    ("numeric", "money"),
    ("numeric", "real"),
    ("numeric", "smallint"),
    ("numrange", "nummultirange"),
    ("oid", "bigint"),
    ("oid", "integer"),
    ("path", "polygon"),
    ("point", "box"),
    ("polygon", "box"),
    ("polygon", "circle"),
    ("polygon", "path"),
    ("polygon", "point"),
    ("real", "bigint"),
    ("real", "double precision"),
    ("real", "integer"),
    ("real", "numeric"),
    ("real", "smallint"),
    ("smallint", "bigint"),
    ("smallint", "double precision"),
    ("smallint", "integer"),
    ("smallint", "numeric"),
    ("smallint", "oid"),
    ("smallint", "real"),
    ("text", "\"char\""),
    ("text", "character"),
    ("text", "character varying"),
    ("text", "name"),
    ("text", "xml"),
    ("time with time zone", "time without time zone"),
    ("time without time zone", "interval"),
    ("time without time zone", "time with time zone"),
    ("timestamp with time zone", "date"),
    ("timestamp with time zone", "time with time zone"),
    ("timestamp with time zone", "time without time zone"),
    ("timestamp with time zone", "timestamp without time zone"),
    ("timestamp without time zone", "date"),
    ("timestamp without time zone", "time without time zone"),
    ("timestamp without time zone", "timestamp with time zone"),
    ("tsrange", "tsmultirange"),
    ("tstzrange", "tstzmultirange"),
    ("xid8", "xid"),
    ("xml", "character"),
    ("xml", "character varying"),
    ("xml", "text"),
];

/// Built-in casts that only some majors have: `(from, to, first major, last major)`.
/// The engine is pure and a revision may run on any major, so these are not used to
/// choose a conversion: the change becomes a manual step, which is right everywhere,
/// rather than a cast that fails on the majors without it. They are listed so that the
/// test against each server's `pg_cast` stays exact.
#[cfg(test)]
const MAJOR_SPECIFIC_CASTS: &[(&str, &str, u32, u32)] = &[
    // PostgreSQL 15 dropped the cast from a path to its first point.
    ("path", "point", 13, 14),
    // PostgreSQL 18 converts integers to and from their two's-complement bytes.
    ("bigint", "bytea", 18, u32::MAX),
    ("integer", "bytea", 18, u32::MAX),
    ("smallint", "bytea", 18, u32::MAX),
    ("bytea", "bigint", 18, u32::MAX),
    ("bytea", "integer", 18, u32::MAX),
    ("bytea", "smallint", 18, u32::MAX),
];

/// PostgreSQL's string category (`typcategory = 'S'`): the I/O conversion rule's types.
fn is_string(t: &str) -> bool {
    matches!(t, "text" | "character varying" | "character" | "name")
}

fn is_integer_or_bool(t: &str) -> bool {
    matches!(t, "smallint" | "integer" | "bigint" | "boolean")
}

fn is_float_or_numeric(t: &str) -> bool {
    matches!(t, "real" | "double precision" | "numeric")
}

/// Built-in types are unqualified in the catalog (it reads `format_type` with
/// `search_path = pg_catalog`); every user type carries its schema.
fn is_builtin(t: &str) -> bool {
    !t.contains('.')
}

/// The name of a built-in type without its typmod: `timestamp(3) with time zone` is
/// `timestamp with time zone`, `interval year to month` is `interval`.
fn base_name(t: &str) -> String {
    if !is_builtin(t) {
        return t.to_string();
    }
    let mut out = String::with_capacity(t.len());
    let mut depth = 0usize;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    if out.starts_with("interval") {
        return "interval".to_string();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `t` without one trailing `[]`, and whether it had one (`format_type` writes a single
/// `[]` whatever the number of dimensions).
fn element(t: &str) -> (&str, bool) {
    match t.strip_suffix("[]") {
        Some(e) => (e, true),
        None => (t, false),
    }
}

/// The types the two schemas define, as the catalog names them in column types.
struct Types<'a> {
    schemas: &'a [&'a Schema],
}

impl Types<'_> {
    /// A domain's base type, followed down (a domain over a domain); anything else as is.
    /// Casts see a domain as its base type, so the decision is made on that.
    fn resolve(&self, t: &str) -> String {
        let mut current = t.to_string();
        // Bounded: a cycle cannot come from a real catalog, but input is input.
        for _ in 0..16 {
            let (e, array) = element(&current);
            let base = self.schemas.iter().find_map(|s| {
                s.domains
                    .iter()
                    .find(|d| qn(&d.name) == e)
                    .map(|d| d.base_type.clone())
            });
            match base {
                // An array of a domain over an array is not something to reason about.
                Some(b) if array && b.ends_with("[]") => return current,
                Some(b) if array => current = format!("{b}[]"),
                Some(b) => current = b,
                None => return current,
            }
        }
        current
    }

    /// An enum, composite or range type of one of the schemas: its casts, if any, are
    /// among the catalog's, and text is its one other way.
    fn is_defined(&self, t: &str) -> bool {
        self.schemas.iter().any(|s| {
            s.enums.iter().any(|e| qn(&e.name) == t)
                || s.composites.iter().any(|c| qn(&c.name) == t)
                || s.ranges.iter().any(|r| qn(&r.name) == t)
        })
    }

    fn user_cast(&self, from: &str, to: &str) -> bool {
        self.schemas.iter().any(|s| {
            s.casts
                .iter()
                .any(|c| base_name(&c.source) == from && base_name(&c.target) == to)
        })
    }
}

/// How a column of type `from` becomes `to` (both as `format_type` writes them), given
/// the schemas that define the types involved (the two sides of the diff).
pub fn conversion(from: &str, to: &str, schemas: &[&Schema]) -> Conversion {
    let types = Types { schemas };
    let (from, to) = (types.resolve(from), types.resolve(to));
    let ((s, s_array), (t, t_array)) = (element(&from), element(&to));
    let (s, t) = (base_name(s), base_name(t));
    if s_array != t_array {
        // An array and a scalar meet only through a string type's I/O conversion.
        let string_side = if t_array { &s } else { &t };
        if is_string(string_side) {
            return Conversion::direct();
        }
        return Conversion::manual(json_hint(&t, t_array));
    }
    if (s.as_str(), t.as_str()) == ("jsonb", "json") {
        // jsonb's text form is JSON: every value converts (keys in jsonb's order).
        return Conversion {
            path: CastPath::Direct,
            lossless: true,
        };
    }
    if s == t
        || BUILTIN_CASTS.contains(&(s.as_str(), t.as_str()))
        || types.user_cast(&s, &t)
        || is_string(&s)
        || is_string(&t)
    {
        return Conversion::direct();
    }
    if types.is_defined(&s) || types.is_defined(&t) {
        // Text is the one form every type has; whether the values fit is the rows' call.
        return Conversion::via("text", None, false);
    }
    if !is_builtin(&s) || !is_builtin(&t) {
        return Conversion::direct();
    }
    if matches!(t.as_str(), "json" | "jsonb") {
        if is_integer_or_bool(&s) {
            return Conversion::via("text", None, true);
        }
        if is_float_or_numeric(&s) {
            return Conversion::via(
                "text",
                Some("NaN or Infinity (JSON has no such number)"),
                true,
            );
        }
    }
    if s == "json" && BUILTIN_CASTS.contains(&("jsonb", t.as_str())) {
        // jsonb's casts to numbers and booleans fail on anything else, as any cast would.
        return Conversion::via("jsonb", None, false);
    }
    if s == "bytea" && !t_array {
        return Conversion::manual(Some("convert_from({col}, 'UTF8')::{to}"));
    }
    if t == "bytea" && !t_array {
        return Conversion::manual(Some("convert_to({col}::text, 'UTF8')"));
    }
    Conversion::manual(json_hint(&t, t_array))
}

/// What a reviewer must know about a cast that keeps its values' form but not their
/// meaning, said instead of the generic warning about values that do not fit.
pub(super) fn caveat(from: &str, to: &str) -> Option<&'static str> {
    let (from, to) = (base_name(element(from).0), base_name(element(to).0));
    let zoned = |t: &str| matches!(t, "timestamp with time zone" | "time with time zone");
    let unzoned = |t: &str| matches!(t, "timestamp without time zone" | "time without time zone");
    if (unzoned(&from) && zoned(&to)) || (zoned(&from) && unzoned(&to)) {
        return Some(
            "values are converted in the session's TimeZone: set it to the zone the \
             stored times mean (SET LOCAL TimeZone = '...') before this statement",
        );
    }
    None
}

/// `to_json`/`to_jsonb` convert any value, although not always as the user wants.
fn json_hint(to: &str, array: bool) -> Option<&'static str> {
    match (to, array) {
        ("json", false) => Some("to_json({col})"),
        ("jsonb", false) => Some("to_jsonb({col})"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Cast, CompositeType, Domain, EnumType, QualifiedName};

    fn path(from: &str, to: &str) -> CastPath {
        conversion(from, to, &[&Schema::default()]).path
    }

    fn via_text() -> CastPath {
        CastPath::Via {
            through: "text",
            fails_on: None,
        }
    }

    fn is_manual(p: &CastPath) -> bool {
        matches!(p, CastPath::Manual { .. })
    }

    fn name(n: &str) -> QualifiedName {
        QualifiedName {
            schema: "public".into(),
            name: n.into(),
        }
    }

    #[test]
    fn built_in_casts_are_direct() {
        for (from, to) in [
            ("integer", "bigint"),
            ("bigint", "smallint"),
            ("integer", "boolean"),
            ("boolean", "integer"),
            ("numeric(10,2)", "double precision"),
            ("timestamp without time zone", "timestamp with time zone"),
            ("timestamp(3) with time zone", "date"),
            ("jsonb", "json"),
            ("json", "jsonb"),
            ("jsonb", "numeric"),
            ("character varying(10)", "character varying(20)"),
            ("bit(3)", "bit varying(8)"),
            ("inet", "cidr"),
            ("interval year to month", "interval"),
            ("integer[]", "bigint[]"),
        ] {
            assert_eq!(path(from, to), CastPath::Direct, "{from} -> {to}");
        }
    }

    #[test]
    fn string_types_convert_to_and_from_anything() {
        for (from, to) in [
            ("bytea", "text"),
            ("text", "bytea"),
            ("integer", "text"),
            ("text", "integer"),
            ("uuid", "character varying(36)"),
            ("name", "uuid"),
            ("integer[]", "text"),
            ("text", "integer[]"),
            ("jsonb[]", "text[]"),
            ("public.mood", "text"),
        ] {
            assert_eq!(path(from, to), CastPath::Direct, "{from} -> {to}");
        }
    }

    #[test]
    fn numbers_and_booleans_reach_json_through_text() {
        let lossless = conversion("integer", "jsonb", &[]);
        assert_eq!(lossless.path, via_text());
        assert!(lossless.lossless);
        assert_eq!(path("boolean[]", "json[]"), via_text());
        assert!(matches!(
            path("double precision", "json"),
            CastPath::Via {
                through: "text",
                fails_on: Some(_)
            }
        ));
        assert_eq!(
            path("json", "integer"),
            CastPath::Via {
                through: "jsonb",
                fails_on: None
            }
        );
    }

    #[test]
    fn time_zone_changes_carry_their_caveat() {
        assert!(caveat("timestamp without time zone", "timestamp with time zone").is_some());
        assert!(caveat(
            "timestamp(3) with time zone[]",
            "timestamp without time zone[]"
        )
        .is_some());
        assert!(caveat("time without time zone", "time with time zone").is_some());
        assert!(caveat("timestamp without time zone", "date").is_none());
        assert!(caveat("integer", "bigint").is_none());
        assert!(conversion("jsonb", "json", &[]).lossless);
        assert!(!conversion("json", "jsonb", &[]).lossless);
    }

    #[test]
    fn no_cast_is_a_manual_step() {
        for (from, to) in [
            ("bytea", "jsonb"),
            ("jsonb", "bytea"),
            ("uuid", "jsonb"),
            ("bytea[]", "jsonb[]"),
            ("smallint", "boolean"),
            ("date", "integer"),
            ("integer[]", "jsonb"),
            ("integer", "integer[]"),
        ] {
            assert!(is_manual(&path(from, to)), "{from} -> {to}");
        }
        assert_eq!(
            path("bytea", "jsonb"),
            CastPath::Manual {
                hint: Some("convert_from({col}, 'UTF8')::{to}")
            }
        );
    }

    #[test]
    fn user_types_go_through_text_unless_a_cast_exists() {
        let mut schema = Schema::default();
        schema.enums.push(EnumType {
            name: name("mood"),
            labels: vec!["ok".into()],
            comment: None,
            owner: None,
            acl: Vec::new(),
        });
        assert_eq!(
            conversion("public.mood", "integer", &[&schema]).path,
            via_text()
        );
        // An extension's type: its casts are the extension's, unknown here.
        assert_eq!(
            conversion("integer", "public.pair", &[&schema]).path,
            CastPath::Direct
        );
        schema.composites.push(CompositeType {
            name: name("pair"),
            attributes: Vec::new(),
            comment: None,
            owner: None,
            acl: Vec::new(),
        });
        assert_eq!(
            conversion("integer", "public.pair", &[&schema]).path,
            via_text()
        );
        schema.casts.push(Cast {
            source: "integer".into(),
            target: "public.pair".into(),
            method: "function".into(),
            function: None,
            context: "explicit".into(),
            comment: None,
        });
        assert_eq!(
            conversion("integer", "public.pair", &[&schema]).path,
            CastPath::Direct
        );
    }

    /// How a manual step is written: one statement, under its marker, that a name
    /// holding a line break cannot break out of (as SQL, or out of a comment).
    #[test]
    fn a_manual_step_is_one_marked_statement_whatever_the_names() {
        use crate::diff::{render, to_script, Change, ColumnChange, TableChange};
        let column = "p\nDROP TABLE users; --";
        let change = Change::AlterTable {
            name: name("t"),
            changes: vec![TableChange::AlterColumn {
                name: column.into(),
                change: ColumnChange::SetType {
                    from: "bytea".into(),
                    to: "jsonb".into(),
                    collation: None,
                    using: true,
                    narrowing: false,
                    path: conversion("bytea", "jsonb", &[]).path,
                },
            }],
        };
        let statements = render(&[change]);
        assert_eq!(statements.len(), 1);
        assert!(statements[0]
            .hazards
            .iter()
            .any(|h| h.kind == crate::diff::HazardKind::ManualStep));
        let script = to_script(&statements);
        let split = crate::sql::split::split(&script);
        assert_eq!(split.len(), 1, "{script}");
        assert!(split[0].sql.contains(crate::diff::MANUAL_STEP), "{script}");
        assert!(
            split[0]
                .sql
                .ends_with("USING \"p\nDROP TABLE users; --\"::jsonb"),
            "{script}"
        );
    }

    /// The table is a faithful copy of the server's own catalog: every built-in cast
    /// between the types it covers is listed (a missing one would make a manual step
    /// where PostgreSQL converts), and every listed cast whose types the server has is
    /// real (an invented one would write a cast that fails in deploy). Types a server
    /// lacks (multiranges before 14) are skipped, and the casts of other majors than the
    /// server's are left out, so every major from 13 passes.
    #[test]
    fn the_table_matches_the_servers_pg_cast() {
        let url = std::env::var("TEST_DATABASE_URL").expect(
            "TEST_DATABASE_URL must name a PostgreSQL server for the pg_cast check \
             (start one with scripts/pg-local.sh start)",
        );
        let (casts, types, major) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime")
            .block_on(async {
                let info = crate::db::ConnInfo::from_env(Some(&url)).expect("parse the URL");
                let client = info.connect("retort test").await.expect("connect");
                let casts = client
                    .query(
                        "SELECT format_type(castsource, NULL), format_type(casttarget, NULL) \
                         FROM pg_cast WHERE castsource < 16384 AND casttarget < 16384 \
                         AND castsource <> casttarget",
                        &[],
                    )
                    .await
                    .expect("read pg_cast");
                let types = client
                    .query(
                        "SELECT format_type(oid, NULL) FROM pg_type WHERE oid < 16384",
                        &[],
                    )
                    .await
                    .expect("read pg_type");
                let pair = |r: &tokio_postgres::Row| (r.get::<_, String>(0), r.get::<_, String>(1));
                let casts: std::collections::BTreeSet<(String, String)> =
                    casts.iter().map(pair).collect();
                let types: std::collections::BTreeSet<String> =
                    types.iter().map(|r| r.get(0)).collect();
                let version = client
                    .query_one(
                        "SELECT current_setting('server_version_num')::int / 10000",
                        &[],
                    )
                    .await
                    .expect("read server_version_num");
                (casts, types, version.get::<_, i32>(0) as u32)
            });
        let this_major: Vec<(&str, &str)> = MAJOR_SPECIFIC_CASTS
            .iter()
            .filter(|(_, _, first, last)| (*first..=*last).contains(&major))
            .map(|(from, to, _, _)| (*from, *to))
            .collect();
        let internal = |t: &str| t.starts_with("pg_") || t.starts_with("reg");
        for (from, to) in &casts {
            if !internal(from) && !internal(to) {
                let pair = (from.as_str(), to.as_str());
                assert!(
                    BUILTIN_CASTS.contains(&pair) || this_major.contains(&pair),
                    "pg_cast of PostgreSQL {major} has {from} -> {to}; neither \
                     BUILTIN_CASTS nor MAJOR_SPECIFIC_CASTS lists it for {major}"
                );
            }
        }
        for (from, to) in BUILTIN_CASTS.iter().chain(&this_major) {
            if types.contains(*from) && types.contains(*to) {
                assert!(
                    casts.contains(&(from.to_string(), to.to_string())),
                    "BUILTIN_CASTS has {from} -> {to}; the server's pg_cast does not"
                );
            }
        }
    }

    #[test]
    fn domains_are_seen_as_their_base_type() {
        let mut schema = Schema::default();
        for (n, base) in [("blob", "bytea"), ("doc", "jsonb"), ("deep", "public.doc")] {
            schema.domains.push(Domain {
                name: name(n),
                base_type: base.into(),
                collation: None,
                default: None,
                not_null: false,
                checks: Vec::new(),
                comment: None,
                owner: None,
                acl: Vec::new(),
            });
        }
        let p = |from: &str, to: &str| conversion(from, to, &[&schema]).path;
        assert!(is_manual(&p("public.blob", "jsonb")));
        assert!(is_manual(&p("bytea", "public.deep")));
        assert!(is_manual(&p("public.blob[]", "public.doc[]")));
        assert_eq!(p("json", "public.deep"), CastPath::Direct);
        assert_eq!(p("public.doc", "jsonb"), CastPath::Direct);
    }
}
