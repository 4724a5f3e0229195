//! Reading relation-level objects: sequences, tables, views, materialized views and
//! foreign tables with their columns and constraints, and the indexes, triggers,
//! policies, rules and extended statistics that hang off them. These are the kinds an
//! incremental inspection reads again (see `queries::RELATION_LEVEL`).

use tokio_postgres::Row;

use super::assemble::{collation, enabled_state, sorted, strip_semicolon, Assembly};
use super::get;
use super::queries::{
    PG_CLASS, PG_CONSTRAINT, PG_POLICY, PG_REWRITE, PG_STATISTIC_EXT, PG_TRIGGER,
};
use crate::catalog::model::*;
use crate::catalog::CatalogError;
use crate::sql::quote_ident;

/// A relation being assembled, before it is split into tables and views.
pub(super) struct Rel {
    name: QualifiedName,
    kind: String,
    unlogged: bool,
    row_security: bool,
    force_row_security: bool,
    options: Vec<String>,
    partition_key: Option<String>,
    partition_bound: Option<String>,
    view_definition: Option<String>,
    parents: Vec<QualifiedName>,
    is_partition: bool,
    access_method: Option<String>,
    replica_identity: Option<String>,
    cluster_on: Option<String>,
    /// Foreign tables: the server and the options.
    server: Option<String>,
    foreign_options: Vec<String>,
    owner: Option<String>,
    acl: Vec<String>,
    columns: Vec<(i32, Column)>,
    constraints: Vec<Constraint>,
    comment: Option<String>,
}

impl Assembly<'_> {
    /// Identity sequences become column properties (see [`Assembly::columns`]), the
    /// others objects.
    pub(super) fn sequences(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "sequences";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let name = QualifiedName::new(
                get::<String>(q, row, "nspname")?,
                get::<String>(q, row, "relname")?,
            );
            let opts = SequenceOptions {
                data_type: get(q, row, "data_type")?,
                start: get(q, row, "seqstart")?,
                increment: get(q, row, "seqincrement")?,
                min: get(q, row, "seqmin")?,
                max: get(q, row, "seqmax")?,
                cache: get(q, row, "seqcache")?,
                cycle: get(q, row, "seqcycle")?,
            };
            let owner_rel: Option<u32> = get(q, row, "owned_by_relid")?;
            let owner_att: Option<i32> = get(q, row, "owned_by_attnum")?;
            let deptype: Option<String> = get(q, row, "dependency_type")?;
            let owner_schema: Option<String> = get(q, row, "owned_by_schema")?;
            let owner_table: Option<String> = get(q, row, "owned_by_table")?;
            let owner_column: Option<String> = get(q, row, "owned_by_column")?;
            if let (Some(rel), Some(att), Some("i")) = (owner_rel, owner_att, deptype.as_deref()) {
                self.identities.insert((rel, att), (name, opts));
                continue;
            }
            let owned_by = match (owner_schema, owner_table, owner_column) {
                (Some(s), Some(t), Some(c)) => Some((QualifiedName::new(s, t), c)),
                _ => None,
            };
            // A sequence owned by an excluded table (retort_history's serial) goes with it.
            if let Some((table, _)) = &owned_by {
                if self.is_excluded(table) {
                    continue;
                }
            }
            self.relations.push((oid, name.clone()));
            self.schema.sequences.push(Sequence {
                name,
                options: opts,
                owned_by,
                comment: self.comments.take(PG_CLASS, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
                acl: self.extras.acl(get(q, row, "acl")?),
            });
        }
        Ok(())
    }

    /// Relations, keyed by OID so columns, constraints, indexes... can find them.
    pub(super) fn relations(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "relations";
        self.rels.reserve(rows.len());
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let name = QualifiedName::new(
                get::<String>(q, row, "nspname")?,
                get::<String>(q, row, "relname")?,
            );
            if self.is_excluded(&name) {
                continue;
            }
            let parent_schemas: Vec<String> = get(q, row, "parent_schemas")?;
            let parent_names: Vec<String> = get(q, row, "parent_names")?;
            let mut options: Vec<String> = get(q, row, "options")?;
            options.sort();
            let kind: String = get(q, row, "relkind")?;
            let access_method: Option<String> = get(q, row, "access_method")?;
            // Replica identity: 'd' (the primary key) is the default and not printed.
            let replica_identity = match get::<String>(q, row, "relreplident")?.as_str() {
                "f" => Some("FULL".to_string()),
                "n" => Some("NOTHING".to_string()),
                "i" => get::<Option<String>>(q, row, "replica_identity_index")?
                    .map(|index| format!("USING INDEX {}", quote_ident(&index))),
                _ => None,
            };
            let rel = Rel {
                name,
                unlogged: get::<String>(q, row, "relpersistence")? == "u",
                row_security: get(q, row, "relrowsecurity")?,
                force_row_security: get(q, row, "relforcerowsecurity")?,
                options,
                partition_key: get(q, row, "partition_key")?,
                partition_bound: get(q, row, "partition_bound")?,
                view_definition: get(q, row, "view_definition")?,
                parents: parent_schemas
                    .into_iter()
                    .zip(parent_names)
                    .map(|(s, n)| QualifiedName::new(s, n))
                    .collect(),
                is_partition: get(q, row, "relispartition")?,
                // Only tables have a meaningful access method; heap is the default.
                access_method: access_method
                    .filter(|am| am != "heap" && (kind == "r" || kind == "m")),
                kind,
                replica_identity,
                cluster_on: get(q, row, "cluster_on")?,
                server: get(q, row, "server")?,
                foreign_options: sorted(get(q, row, "foreign_options")?),
                owner: self.extras.owner(get(q, row, "owner")?),
                acl: self.extras.acl(get(q, row, "acl")?),
                columns: Vec::new(),
                constraints: Vec::new(),
                comment: self.comments.take(PG_CLASS, oid, 0),
            };
            self.rels.insert(oid, rel);
        }
        Ok(())
    }

    /// Columns, attached to relations and composite types by OID.
    pub(super) fn columns(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "columns";
        for row in rows {
            let relid: u32 = get(q, row, "attrelid")?;
            let attnum: i32 = get(q, row, "attnum")?;
            if !self.rels.contains_key(&relid) && !self.composites.contains_key(&relid) {
                continue;
            }
            let identity_code: String = get(q, row, "attidentity")?;
            let generated_code: String = get(q, row, "attgenerated")?;
            let expr: Option<String> = get(q, row, "expression")?;
            let identity = if identity_code.is_empty() {
                None
            } else {
                self.identities
                    .remove(&(relid, attnum))
                    .map(|(sequence, options)| Identity {
                        always: identity_code == "a",
                        sequence,
                        options,
                    })
            };
            // 's' stored, 'v' virtual (18): the expression is the generation, not a default.
            let (default, generated) = if generated_code.is_empty() {
                (expr, None)
            } else {
                (None, expr)
            };
            let not_null_name: Option<String> = get(q, row, "not_null_name")?;
            let no_inherit: bool = get(q, row, "not_null_no_inherit")?;
            let not_valid: bool = get(q, row, "not_null_not_valid")?;
            let not_null_constraint = (not_null_name.is_some() || no_inherit || not_valid)
                .then_some(NotNullConstraint {
                    name: not_null_name,
                    no_inherit,
                    not_valid,
                });
            let column = Column {
                name: get(q, row, "attname")?,
                data_type: get(q, row, "data_type")?,
                collation: collation(get(q, row, "collation_schema")?, get(q, row, "collation")?),
                not_null: get(q, row, "attnotnull")?,
                not_null_constraint,
                default,
                identity,
                generated,
                generated_virtual: generated_code == "v",
                comment: self.comments.take(PG_CLASS, relid, attnum),
                acl: self.extras.acl(get(q, row, "acl")?),
                statistics: get(q, row, "statistics")?,
                storage: get::<Option<String>>(q, row, "storage")?.map(|code| storage_name(&code)),
            };
            if let Some(rel) = self.rels.get_mut(&relid) {
                rel.columns.push((attnum, column));
            } else if let Some((_, attrs)) = self.composites.get_mut(&relid) {
                attrs.push((attnum, column));
            }
        }
        Ok(())
    }

    /// Table constraints (local ones only) and domain checks.
    pub(super) fn constraints(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "constraints";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let relid: u32 = get(q, row, "conrelid")?;
            let typid: u32 = get(q, row, "contypid")?;
            let contype: String = get(q, row, "contype")?;
            let Some(kind) = constraint_kind(&contype) else {
                continue;
            };
            let is_local: bool = get(q, row, "conislocal")?;
            let has_parent: bool = get(q, row, "has_parent")?;
            // Inherited constraints and those cloned onto partitions are the parent's.
            if relid != 0 && (!is_local || has_parent) {
                continue;
            }
            if !self.rels.contains_key(&relid) && !self.domains.contains_key(&typid) {
                continue;
            }
            let constraint = Constraint {
                name: get(q, row, "conname")?,
                kind,
                definition: get(q, row, "definition")?,
                deferrable: get(q, row, "condeferrable")?,
                initially_deferred: get(q, row, "condeferred")?,
                validated: get(q, row, "convalidated")?,
                comment: self.comments.take(PG_CONSTRAINT, oid, 0),
            };
            if let Some(rel) = self.rels.get_mut(&relid) {
                rel.constraints.push(constraint);
            } else if let Some(domain) = self.domains.get_mut(&typid) {
                domain.checks.push(constraint);
            }
        }
        Ok(())
    }

    /// Indexes, named in their table's schema; those of tables not read go with them.
    pub(super) fn indexes(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "indexes";
        for row in rows {
            let oid: u32 = get(q, row, "indexrelid")?;
            let relid: u32 = get(q, row, "indrelid")?;
            let Some(rel) = self.rels.get(&relid) else {
                continue;
            };
            self.schema.indexes.push(Index {
                name: QualifiedName::new(
                    rel.name.schema.clone(),
                    get::<String>(q, row, "index_name")?,
                ),
                table: rel.name.clone(),
                method: get(q, row, "access_method")?,
                unique: get(q, row, "indisunique")?,
                definition: get(q, row, "definition")?,
                predicate: get(q, row, "predicate")?,
                comment: self.comments.take(PG_CLASS, oid, 0),
            });
        }
        Ok(())
    }

    /// Triggers of the tables read (an excluded table's go with it).
    pub(super) fn triggers(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "triggers";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let relid: u32 = get(q, row, "tgrelid")?;
            let Some(rel) = self.rels.get(&relid) else {
                continue;
            };
            self.schema.triggers.push(Trigger {
                table: rel.name.clone(),
                name: get(q, row, "tgname")?,
                definition: get(q, row, "definition")?,
                enabled: enabled_state(&get::<String>(q, row, "tgenabled")?),
                cloned: get(q, row, "cloned")?,
                comment: self.comments.take(PG_TRIGGER, oid, 0),
            });
        }
        Ok(())
    }

    /// Policies of the tables read, roles in byte order (polroles has no meaningful order).
    pub(super) fn policies(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "policies";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let relid: u32 = get(q, row, "polrelid")?;
            let Some(rel) = self.rels.get(&relid) else {
                continue;
            };
            let mut roles: Vec<String> = get(q, row, "roles")?;
            roles.sort();
            let command = match get::<String>(q, row, "polcmd")?.as_str() {
                "r" => "SELECT",
                "a" => "INSERT",
                "w" => "UPDATE",
                "d" => "DELETE",
                _ => "ALL",
            };
            self.schema.policies.push(Policy {
                table: rel.name.clone(),
                name: get(q, row, "polname")?,
                permissive: get(q, row, "polpermissive")?,
                command: command.to_string(),
                roles,
                using: get(q, row, "using_expression")?,
                with_check: get(q, row, "with_check_expression")?,
                comment: self.comments.take(PG_POLICY, oid, 0),
            });
        }
        Ok(())
    }

    /// Rules of the relations read, without the trailing semicolon pg_get_ruledef adds.
    pub(super) fn rules(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "rules";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let relid: u32 = get(q, row, "ev_class")?;
            let Some(rel) = self.rels.get(&relid) else {
                continue;
            };
            let definition: String = get(q, row, "definition")?;
            self.schema.rules.push(Rule {
                table: rel.name.clone(),
                name: get(q, row, "rulename")?,
                definition: strip_semicolon(&definition),
                enabled: enabled_state(&get::<String>(q, row, "ev_enabled")?),
                comment: self.comments.take(PG_REWRITE, oid, 0),
            });
        }
        Ok(())
    }

    /// Extended statistics of the tables read.
    pub(super) fn statistics(&mut self, rows: &[Row]) -> Result<(), CatalogError> {
        let q = "statistics";
        for row in rows {
            let oid: u32 = get(q, row, "oid")?;
            let relid: u32 = get(q, row, "stxrelid")?;
            // Statistics on an excluded table go with it.
            let Some(rel) = self.rels.get(&relid) else {
                continue;
            };
            self.schema.statistics.push(Statistics {
                name: QualifiedName::new(
                    get::<String>(q, row, "nspname")?,
                    get::<String>(q, row, "stxname")?,
                ),
                table: rel.name.clone(),
                definition: get::<Option<String>>(q, row, "definition")?.unwrap_or_default(),
                target: get(q, row, "target")?,
                comment: self.comments.take(PG_STATISTIC_EXT, oid, 0),
                owner: self.extras.owner(get(q, row, "owner")?),
            });
        }
        Ok(())
    }

    /// Splits the relations into their kinds, now that their children are attached.
    pub(super) fn split_relations(&mut self) {
        for (oid, mut rel) in std::mem::take(&mut self.rels) {
            self.relations.push((oid, rel.name.clone()));
            rel.columns.sort_by_key(|(attnum, _)| *attnum);
            let columns: Vec<Column> = rel.columns.into_iter().map(|(_, c)| c).collect();
            rel.constraints.sort_by(|a, b| a.name.cmp(&b.name));
            match rel.kind.as_str() {
                "v" | "m" => {
                    let view = View {
                        name: rel.name,
                        definition: strip_semicolon(&rel.view_definition.unwrap_or_default()),
                        options: rel.options,
                        columns,
                        comment: rel.comment,
                        owner: rel.owner,
                        acl: rel.acl,
                    };
                    if rel.kind == "m" {
                        self.schema.materialized_views.push(view);
                    } else {
                        self.schema.views.push(view);
                    }
                }
                "f" => self.schema.foreign_tables.push(ForeignTable {
                    name: rel.name,
                    server: rel.server.unwrap_or_default(),
                    options: rel.foreign_options,
                    inherits: if rel.is_partition {
                        Vec::new()
                    } else {
                        rel.parents.clone()
                    },
                    partition_of: if rel.is_partition {
                        rel.parents.first().map(|parent| PartitionOf {
                            parent: parent.clone(),
                            bound: rel.partition_bound.clone().unwrap_or_default(),
                        })
                    } else {
                        None
                    },
                    columns,
                    constraints: rel.constraints,
                    comment: rel.comment,
                    owner: rel.owner,
                    acl: rel.acl,
                }),
                _ => {
                    // A partition's single pg_inherits parent is its partitioned table.
                    let (partition_of, inherits) = if rel.is_partition {
                        let mut parents = rel.parents.into_iter();
                        let parent = parents.next();
                        (
                            parent.map(|parent| PartitionOf {
                                parent,
                                bound: rel.partition_bound.unwrap_or_default(),
                            }),
                            parents.collect(),
                        )
                    } else {
                        (None, rel.parents)
                    };
                    self.schema.tables.push(Table {
                        name: rel.name,
                        unlogged: rel.unlogged,
                        partition_key: rel.partition_key,
                        partition_of,
                        inherits,
                        access_method: rel.access_method,
                        replica_identity: rel.replica_identity,
                        cluster_on: rel.cluster_on,
                        options: rel.options,
                        row_security: rel.row_security,
                        force_row_security: rel.force_row_security,
                        columns,
                        constraints: rel.constraints,
                        comment: rel.comment,
                        owner: rel.owner,
                        acl: rel.acl,
                    });
                }
            }
        }
    }
}

fn constraint_kind(contype: &str) -> Option<ConstraintKind> {
    Some(match contype {
        "p" => ConstraintKind::PrimaryKey,
        "u" => ConstraintKind::Unique,
        "f" => ConstraintKind::ForeignKey,
        "c" => ConstraintKind::Check,
        "x" => ConstraintKind::Exclusion,
        _ => return None,
    })
}

/// `attstorage` codes as `ALTER COLUMN ... SET STORAGE` spells them.
fn storage_name(code: &str) -> String {
    match code {
        "p" => "PLAIN",
        "e" => "EXTERNAL",
        "m" => "MAIN",
        "x" => "EXTENDED",
        other => other,
    }
    .to_owned()
}
