//! Reading the objects that are not relation-level: schemas, extensions, types,
//! functions and aggregates, event triggers, collations, casts, foreign-data wrappers,
//! foreign servers and publications. A change to any of them means a whole inspection.

use tokio_postgres::Row;

use super::assemble::{collation, enabled_state, sorted, Assembly};
use super::get;
use super::queries::{
    PG_CAST, PG_COLLATION, PG_EVENT_TRIGGER, PG_EXTENSION, PG_FOREIGN_DATA_WRAPPER,
    PG_FOREIGN_SERVER, PG_NAMESPACE, PG_PROC, PG_PUBLICATION, PG_TYPE,
};
use crate::catalog::model::*;
use crate::catalog::CatalogError;
use crate::sql::{quote_ident, quote_literal};

impl Assembly<'_> {
    /// Schemas, with their owners and grants when asked for.
    pub(super) fn schemas(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "schemas";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            self.schema.schemas.push(SchemaDef {
                name: get(q, row, "nspname")?,
                comment: self.comments.take(PG_NAMESPACE, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
                acl: self.extras.acl(get(q, row, "acl")?),
            });
        }
        Ok(())
    }

    /// Extensions: their members are never read (they come with CREATE EXTENSION).
    pub(super) fn extensions(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "extensions";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            self.schema.extensions.push(Extension {
                name: get(q, row, "extname")?,
                version: get(q, row, "extversion")?,
                schema: get(q, row, "nspname")?,
                comment: self.comments.take(PG_EXTENSION, oid, 0),
            });
        }
        Ok(())
    }

    /// Enums and ranges go to the schema; domains and composite types wait for their
    /// checks and attributes (from the constraints and columns queries).
    pub(super) fn types(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "types";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let name = QualifiedName::new(
                get::<String>(q, row, "nspname")?,
                get::<String>(q, row, "typname")?,
            );
            let typtype: String = get(q, row, "typtype")?;
            let comment = self.comments.take(PG_TYPE, oid, 0);
            let owner = self.extras.owner(get(q, row, "owner")?);
            let acl = self.extras.acl(get(q, row, "acl")?);
            match typtype.as_str() {
                "e" => self.schema.enums.push(EnumType {
                    name,
                    labels: get::<Option<Vec<String>>>(q, row, "enum_labels")?.unwrap_or_default(),
                    comment,
                    owner,
                    acl,
                }),
                "d" => {
                    let domain = Domain {
                        name,
                        base_type: get::<Option<String>>(q, row, "domain_base_type")?
                            .unwrap_or_default(),
                        not_null: get(q, row, "typnotnull")?,
                        default: get(q, row, "domain_default")?,
                        collation: collation(
                            get(q, row, "domain_collation_schema")?,
                            get(q, row, "domain_collation")?,
                        ),
                        checks: Vec::new(),
                        comment,
                        owner,
                        acl,
                    };
                    self.domains.insert(oid, domain);
                }
                "r" => {
                    let opclass = match (
                        get::<Option<String>>(q, row, "range_opclass_schema")?,
                        get::<Option<String>>(q, row, "range_opclass")?,
                    ) {
                        (Some(schema), Some(name)) => Some(qualified_name_text(&schema, &name)),
                        _ => None,
                    };
                    self.schema.ranges.push(RangeType {
                        name,
                        subtype: get::<Option<String>>(q, row, "range_subtype")?
                            .unwrap_or_default(),
                        subtype_opclass: opclass,
                        collation: collation(
                            get(q, row, "range_collation_schema")?,
                            get(q, row, "range_collation")?,
                        ),
                        canonical: get(q, row, "range_canonical")?,
                        subtype_diff: get(q, row, "range_subtype_diff")?,
                        comment,
                        owner,
                        acl,
                    })
                }
                _ => {
                    let relid: u32 = get(q, row, "typrelid")?;
                    let composite = CompositeType {
                        name,
                        attributes: Vec::new(),
                        comment,
                        owner,
                        acl,
                    };
                    self.composites.insert(relid, (composite, Vec::new()));
                }
            }
        }
        Ok(())
    }

    /// Routines; an aggregate's definition is rebuilt from pg_aggregate ([`aggregate_definition`]).
    pub(super) fn functions(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "functions";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let name = QualifiedName::new(
                get::<String>(q, row, "nspname")?,
                get::<String>(q, row, "proname")?,
            );
            let arguments: String = get(q, row, "identity_arguments")?;
            let prokind: String = get(q, row, "prokind")?;
            let text: String = get::<Option<String>>(q, row, "definition")?.unwrap_or_default();
            let (kind, definition) = match prokind.as_str() {
                "a" => (
                    FunctionKind::Aggregate,
                    aggregate_definition(row, &name, &text)?,
                ),
                "p" => (FunctionKind::Procedure, text.trim_end().to_string()),
                "w" => (FunctionKind::Window, text.trim_end().to_string()),
                _ => (FunctionKind::Function, text.trim_end().to_string()),
            };
            self.schema.functions.push(Function {
                name,
                arguments,
                kind,
                definition,
                comment: self.comments.take(PG_PROC, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
                acl: self.extras.acl(get(q, row, "acl")?),
            });
        }
        Ok(())
    }

    /// Event triggers, tags in byte order (the order they were listed in is not kept).
    pub(super) fn event_triggers(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "event triggers";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let mut tags: Vec<String> = get(q, row, "tags")?;
            tags.sort();
            self.schema.event_triggers.push(EventTrigger {
                name: get(q, row, "evtname")?,
                event: get(q, row, "evtevent")?,
                function: QualifiedName::new(
                    get::<String>(q, row, "function_schema")?,
                    get::<String>(q, row, "function_name")?,
                ),
                enabled: enabled_state(&get::<String>(q, row, "evtenabled")?),
                tags,
                comment: self.comments.take(PG_EVENT_TRIGGER, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
            });
        }
        Ok(())
    }

    /// Collations, with the locale fields that apply to their provider.
    pub(super) fn collations(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "collations";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let provider = match get::<String>(q, row, "collprovider")?.as_str() {
                "i" => "icu",
                "b" => "builtin",
                _ => "libc",
            }
            .to_string();
            let libc = provider == "libc";
            // A libc collation has LC_COLLATE and LC_CTYPE; the others a locale.
            let (lc_collate, lc_ctype) = if libc {
                (get(q, row, "collcollate")?, get(q, row, "collctype")?)
            } else {
                (None, None)
            };
            self.schema.collations.push(Collation {
                name: QualifiedName::new(
                    get::<String>(q, row, "nspname")?,
                    get::<String>(q, row, "collname")?,
                ),
                locale: if libc { None } else { get(q, row, "locale")? },
                provider,
                lc_collate,
                lc_ctype,
                rules: get(q, row, "rules")?,
                deterministic: get(q, row, "collisdeterministic")?,
                comment: self.comments.take(PG_COLLATION, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
            });
        }
        Ok(())
    }

    /// User-defined casts, codes spelled as `CREATE CAST` spells them.
    pub(super) fn casts(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "casts";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let method = match get::<String>(q, row, "castmethod")?.as_str() {
                "b" => "binary",
                "i" => "inout",
                _ => "function",
            };
            let context = match get::<String>(q, row, "castcontext")?.as_str() {
                "a" => "assignment",
                "i" => "implicit",
                _ => "explicit",
            };
            self.schema.casts.push(Cast {
                source: get(q, row, "source_type")?,
                target: get(q, row, "target_type")?,
                method: method.to_string(),
                function: get(q, row, "function")?,
                context: context.to_string(),
                comment: self.comments.take(PG_CAST, oid, 0),
            });
        }
        Ok(())
    }

    /// Foreign-data wrappers, options in byte order.
    pub(super) fn foreign_data_wrappers(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "foreign data wrappers";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            self.schema.foreign_data_wrappers.push(ForeignDataWrapper {
                name: get(q, row, "fdwname")?,
                handler: get(q, row, "handler")?,
                validator: get(q, row, "validator")?,
                options: sorted(get(q, row, "options")?),
                comment: self.comments.take(PG_FOREIGN_DATA_WRAPPER, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
            });
        }
        Ok(())
    }

    /// Foreign servers, options in byte order.
    pub(super) fn foreign_servers(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "foreign servers";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            self.schema.foreign_servers.push(ForeignServer {
                name: get(q, row, "srvname")?,
                wrapper: get(q, row, "fdwname")?,
                server_type: get(q, row, "srvtype")?,
                version: get(q, row, "srvversion")?,
                options: sorted(get(q, row, "options")?),
                comment: self.comments.take(PG_FOREIGN_SERVER, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
            });
        }
        Ok(())
    }

    /// Publications, with the actions they publish in a fixed order.
    pub(super) fn publications(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "publications";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let mut publish = Vec::new();
            for (column, action) in [
                ("pubinsert", "insert"),
                ("pubupdate", "update"),
                ("pubdelete", "delete"),
                ("pubtruncate", "truncate"),
            ] {
                if get::<bool>(q, row, column)? {
                    publish.push(action.to_string());
                }
            }
            self.schema.publications.push(Publication {
                name: get(q, row, "pubname")?,
                all_tables: get(q, row, "puballtables")?,
                tables: sorted(get(q, row, "tables")?),
                schemas: sorted(get(q, row, "schemas")?),
                publish,
                via_root: get(q, row, "via_root")?,
                comment: self.comments.take(PG_PUBLICATION, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
            });
        }
        Ok(())
    }
}

/// A name as SQL spells it: unqualified in pg_catalog, which the search path always has.
fn qualified_name_text(schema: &str, name: &str) -> String {
    if schema == "pg_catalog" {
        quote_ident(name)
    } else {
        format!("{}.{}", quote_ident(schema), quote_ident(name))
    }
}

/// `CREATE AGGREGATE` from the pg_aggregate columns of a functions row (pg_dump's way:
/// PostgreSQL has no pg_get_aggregatedef). Options equal to their defaults are omitted,
/// so equivalent declarations print the same.
fn aggregate_definition(
    row: &Row,
    name: &QualifiedName,
    arguments: &str,
) -> Result<String, CatalogError> {
    let q = "functions";
    let aggkind: String = get::<Option<String>>(q, row, "aggkind")?.unwrap_or_default();
    let mut opts: Vec<String> = Vec::new();
    let sfunc: Option<String> = get(q, row, "transfn")?;
    opts.push(format!("SFUNC = {}", sfunc.unwrap_or_default()));
    let stype: Option<String> = get(q, row, "transtype")?;
    opts.push(format!("STYPE = {}", stype.unwrap_or_default()));
    let sspace: Option<i32> = get(q, row, "aggtransspace")?;
    if let Some(space) = sspace.filter(|s| *s != 0) {
        opts.push(format!("SSPACE = {space}"));
    }
    // Ordered-set aggregates default to READ_WRITE final functions, others to READ_ONLY.
    let default_modify = if aggkind == "n" { "r" } else { "w" };
    let modify = |code: Option<String>| -> Option<&'static str> {
        match code.as_deref() {
            Some(c) if c != default_modify => Some(match c {
                "s" => "SHAREABLE",
                "w" => "READ_WRITE",
                _ => "READ_ONLY",
            }),
            _ => None,
        }
    };
    if let Some(f) = get::<Option<String>>(q, row, "finalfn")? {
        opts.push(format!("FINALFUNC = {f}"));
        if get::<Option<bool>>(q, row, "aggfinalextra")?.unwrap_or(false) {
            opts.push("FINALFUNC_EXTRA".to_string());
        }
        if let Some(m) = modify(get(q, row, "finalmodify")?) {
            opts.push(format!("FINALFUNC_MODIFY = {m}"));
        }
    }
    for (column, key) in [
        ("combinefn", "COMBINEFUNC"),
        ("serialfn", "SERIALFUNC"),
        ("deserialfn", "DESERIALFUNC"),
    ] {
        if let Some(f) = get::<Option<String>>(q, row, column)? {
            opts.push(format!("{key} = {f}"));
        }
    }
    if let Some(init) = get::<Option<String>>(q, row, "agginitval")? {
        opts.push(format!("INITCOND = {}", quote_literal(&init)));
    }
    if let Some(f) = get::<Option<String>>(q, row, "mtransfn")? {
        opts.push(format!("MSFUNC = {f}"));
        if let Some(f) = get::<Option<String>>(q, row, "minvtransfn")? {
            opts.push(format!("MINVFUNC = {f}"));
        }
        if let Some(t) = get::<Option<String>>(q, row, "mtranstype")? {
            opts.push(format!("MSTYPE = {t}"));
        }
        if let Some(space) = get::<Option<i32>>(q, row, "aggmtransspace")?.filter(|s| *s != 0) {
            opts.push(format!("MSSPACE = {space}"));
        }
        if let Some(f) = get::<Option<String>>(q, row, "mfinalfn")? {
            opts.push(format!("MFINALFUNC = {f}"));
            if get::<Option<bool>>(q, row, "aggmfinalextra")?.unwrap_or(false) {
                opts.push("MFINALFUNC_EXTRA".to_string());
            }
            if let Some(m) = modify(get(q, row, "mfinalmodify")?) {
                opts.push(format!("MFINALFUNC_MODIFY = {m}"));
            }
        }
        if let Some(init) = get::<Option<String>>(q, row, "aggminitval")? {
            opts.push(format!("MINITCOND = {}", quote_literal(&init)));
        }
    }
    if let (Some(op), Some(op_schema)) = (
        get::<Option<String>>(q, row, "sortop")?,
        get::<Option<String>>(q, row, "sortop_schema")?,
    ) {
        if op_schema == "pg_catalog" {
            opts.push(format!("SORTOP = {op}"));
        } else {
            opts.push(format!(
                "SORTOP = OPERATOR({}.{op})",
                quote_ident(&op_schema)
            ));
        }
    }
    match get::<String>(q, row, "proparallel")?.as_str() {
        "s" => opts.push("PARALLEL = SAFE".to_string()),
        "r" => opts.push("PARALLEL = RESTRICTED".to_string()),
        _ => {}
    }
    if aggkind == "h" {
        opts.push("HYPOTHETICAL".to_string());
    }
    Ok(format!(
        "CREATE AGGREGATE {}.{}({arguments}) (\n    {}\n)",
        quote_ident(&name.schema),
        quote_ident(&name.name),
        opts.join(",\n    ")
    ))
}
