//! Turning the rows of the catalog queries into the model: the shared state of one
//! assembly (comments, options, the relations and types that children attach to), the
//! order the kinds are read in, and the canonical order of the result.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;

use super::get;
use super::relations::Rel;
use crate::catalog::model::*;
use crate::catalog::render::qualified_collation;
use crate::catalog::{CatalogError, InspectOptions};

/// A schema as read, with the OID of every relation and sequence in it (the incremental
/// inspection keeps them to know which objects to replace).
pub(in crate::catalog) struct Read {
    pub schema: Schema,
    pub relations: Vec<(u32, QualifiedName)>,
}

/// Assembles the rows of the catalog queries (taken out of `rows` by name; a query not
/// run reads as no rows) into the model.
pub(in crate::catalog) fn assemble(
    rows: &mut HashMap<&'static str, Vec<Row>>,
    options: &InspectOptions,
) -> Result<Read, CatalogError> {
    let mut take = |name: &'static str| rows.remove(name).unwrap_or_default();
    let comments = Comments::read(&take("comments"))?;
    let mut assembly = Assembly::new(options, comments);
    // Parents before children: sequences before the identity columns that take them,
    // relations and types before the columns and constraints attached to them.
    assembly.schemas(&take("schemas"))?;
    assembly.extensions(&take("extensions"))?;
    assembly.sequences(&take("sequences"))?;
    assembly.relations(&take("relations"))?;
    assembly.types(&take("types"))?;
    assembly.columns(&take("columns"))?;
    assembly.constraints(&take("constraints"))?;
    assembly.indexes(&take("indexes"))?;
    assembly.functions(&take("functions"))?;
    assembly.triggers(&take("triggers"))?;
    assembly.policies(&take("policies"))?;
    assembly.rules(&take("rules"))?;
    assembly.event_triggers(&take("event triggers"))?;
    assembly.collations(&take("collations"))?;
    assembly.casts(&take("casts"))?;
    assembly.statistics(&take("statistics"))?;
    assembly.foreign_data_wrappers(&take("foreign data wrappers"))?;
    assembly.foreign_servers(&take("foreign servers"))?;
    assembly.publications(&take("publications"))?;
    Ok(assembly.finish())
}

/// `pg_description`, keyed by (catalog, object, sub-object).
pub(super) struct Comments(HashMap<(u32, u32, i32), String>);

impl Comments {
    fn read(rows: &[Row]) -> Result<Comments, CatalogError> {
        let q = "comments";
        let mut map = HashMap::with_capacity(rows.len());
        for row in rows {
            let class: u32 = get(q, row, "classoid")?;
            let oid: u32 = get(q, row, "objoid")?;
            let sub: i32 = get(q, row, "objsubid")?;
            map.insert((class, oid, sub), get::<String>(q, row, "description")?);
        }
        Ok(Comments(map))
    }

    pub(super) fn take(&mut self, class: u32, oid: u32, sub: i32) -> Option<String> {
        self.0.remove(&(class, oid, sub))
    }
}

/// Which optional parts the options ask for.
pub(super) struct Extras {
    owners: bool,
    grants: bool,
}

impl Extras {
    pub(super) fn owner(&self, owner: Option<String>) -> Option<String> {
        if self.owners {
            owner
        } else {
            None
        }
    }

    pub(super) fn acl(&self, acl: Option<Vec<String>>) -> Vec<String> {
        if !self.grants {
            return Vec::new();
        }
        let mut acl = acl.unwrap_or_default();
        // aclitem order reflects the order of GRANTs: not part of the schema.
        acl.sort();
        acl
    }
}

/// One assembly in progress: what the kinds read so far left for the kinds after them.
pub(super) struct Assembly<'o> {
    pub extras: Extras,
    /// `InspectOptions::exclude_tables`, as (schema, table).
    pub excluded: HashSet<(&'o str, &'o str)>,
    pub comments: Comments,
    pub schema: Schema,
    /// See [`Read::relations`].
    pub relations: Vec<(u32, QualifiedName)>,
    /// Identity sequences by (table OID, attnum), waiting for their column.
    pub identities: HashMap<(u32, i32), (QualifiedName, SequenceOptions)>,
    /// Relations by OID, waiting for their columns, constraints and indexes.
    pub rels: HashMap<u32, Rel>,
    /// Domains by OID, waiting for their checks.
    pub domains: HashMap<u32, Domain>,
    /// Composite types by the OID of their relation, waiting for their attributes.
    pub composites: HashMap<u32, (CompositeType, Vec<(i32, Column)>)>,
}

impl<'o> Assembly<'o> {
    fn new(options: &'o InspectOptions, comments: Comments) -> Assembly<'o> {
        Assembly {
            extras: Extras {
                owners: options.owners,
                grants: options.grants,
            },
            excluded: options
                .exclude_tables
                .iter()
                .map(|(s, t)| (s.as_str(), t.as_str()))
                .collect(),
            comments,
            schema: Schema::default(),
            relations: Vec::new(),
            identities: HashMap::new(),
            rels: HashMap::new(),
            domains: HashMap::new(),
            composites: HashMap::new(),
        }
    }

    /// Whether `name` is one of the tables never to dump.
    pub(super) fn is_excluded(&self, name: &QualifiedName) -> bool {
        self.excluded
            .contains(&(name.schema.as_str(), name.name.as_str()))
    }

    /// Moves what waited for children into the schema, in canonical order.
    fn finish(mut self) -> Read {
        self.split_relations();
        for (_, mut domain) in self.domains {
            domain.checks.sort_by(|a, b| a.name.cmp(&b.name));
            self.schema.domains.push(domain);
        }
        for (_, (mut composite, mut attrs)) in self.composites {
            attrs.sort_by_key(|(attnum, _)| *attnum);
            composite.attributes = attrs.into_iter().map(|(_, c)| c).collect();
            self.schema.composites.push(composite);
        }
        sort(&mut self.schema);
        Read {
            schema: self.schema,
            relations: self.relations,
        }
    }
}

/// Puts every list in its canonical order (byte order of names, never the server's).
pub(in crate::catalog) fn sort(schema: &mut Schema) {
    schema.schemas.sort_by(|a, b| a.name.cmp(&b.name));
    schema.extensions.sort_by(|a, b| a.name.cmp(&b.name));
    schema.enums.sort_by(|a, b| a.name.cmp(&b.name));
    schema.domains.sort_by(|a, b| a.name.cmp(&b.name));
    schema.composites.sort_by(|a, b| a.name.cmp(&b.name));
    schema.ranges.sort_by(|a, b| a.name.cmp(&b.name));
    schema.sequences.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .functions
        .sort_by(|a, b| (&a.name, &a.arguments).cmp(&(&b.name, &b.arguments)));
    schema.tables.sort_by(|a, b| a.name.cmp(&b.name));
    schema.views.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .materialized_views
        .sort_by(|a, b| a.name.cmp(&b.name));
    schema.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .triggers
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema
        .policies
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema
        .rules
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema.event_triggers.sort_by(|a, b| a.name.cmp(&b.name));
    schema.collations.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .casts
        .sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    schema.statistics.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .foreign_data_wrappers
        .sort_by(|a, b| a.name.cmp(&b.name));
    schema.foreign_servers.sort_by(|a, b| a.name.cmp(&b.name));
    schema.foreign_tables.sort_by(|a, b| a.name.cmp(&b.name));
    schema.publications.sort_by(|a, b| a.name.cmp(&b.name));
}

pub(super) fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

pub(super) fn strip_semicolon(text: &str) -> String {
    text.trim_end().trim_end_matches(';').trim_end().to_string()
}

/// Trigger and rule `enabled` codes (`tgenabled`, `ev_enabled`, `evtenabled`).
pub(super) fn enabled_state(code: &str) -> String {
    match code {
        "D" => "disabled",
        "R" => "replica",
        "A" => "always",
        _ => "origin",
    }
    .to_string()
}

/// A collation as the model spells it, from its schema and name (both or neither).
pub(super) fn collation(schema: Option<String>, name: Option<String>) -> Option<String> {
    match (schema, name) {
        (Some(schema), Some(name)) => Some(qualified_collation(&schema, &name)),
        _ => None,
    }
}
