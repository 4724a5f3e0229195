//! Inspecting one database again and again, re-reading only what changed.
//!
//! `test-migration` inspects after every upgrade and downgrade, and a revision touches a
//! handful of a production schema's thousands of tables. A [`Tracker`] keeps the last
//! schema it read with a stamp of the catalog (see `stamp`); the next inspection reads a
//! new stamp, works out which relations changed and which relations name them, reads
//! just those again with the ordinary catalog queries limited to them, and splices them
//! into the last schema. Anything it cannot scope (a function, a type, a schema, a role
//! changed; a composite type; a dependent that is not relation-level) gives a whole
//! inspection, which is always right. The result equals a whole inspection: the tests
//! check it on every golden diff case and every step of the real-world histories.

use std::collections::{HashMap, HashSet};

use tokio_postgres::{Client, Statement};

use super::inspect::{
    assemble, begin_snapshot, check_version, end_snapshot, prepare, queries, run, run_all,
    shared_snapshot, sort, Bindings, Query, Read,
};
use super::model::ServerMajor;
use super::stamp::{
    dependents_query, members_query, read_dependents, read_members, stamp_queries, Member, Stamp,
};
use super::{CatalogError, InspectOptions, QualifiedName, Schema};

/// How much of the schema an inspection read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything (the first inspection, or a change it could not scope).
    Whole,
    /// Nothing: the catalog did not change.
    Unchanged,
    /// This many relations (tables, views, sequences...) with what hangs off them.
    Relations(usize),
}

/// One inspection's result.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The whole schema as it is now, equal to what a whole inspection reads.
    pub schema: Schema,
    /// How much of it was read from the database; the rest is the last schema's.
    pub scope: Scope,
}

/// What the tracker knows of the last state it read.
struct Last {
    schema: Schema,
    stamp: Stamp,
    /// Each relation's group (see `stamp::Member`).
    members: HashMap<u32, Member>,
    /// The name of each relation in `schema`, by OID.
    names: HashMap<u32, QualifiedName>,
}

/// Inspects one database repeatedly, each time reading only what changed since the
/// last (see the module documentation). The statements are prepared on the connection
/// given to [`Tracker::prepare`], which every later call must use.
pub struct Tracker {
    options: InspectOptions,
    version: i32,
    stamp: Vec<Query>,
    stamp_statements: Vec<Statement>,
    scoped: Vec<Query>,
    scoped_statements: Vec<Statement>,
    members: Query,
    members_statement: Statement,
    dependents: Query,
    dependents_statement: Statement,
    last: Option<Last>,
    verify: bool,
}

impl Tracker {
    /// Prepares the stamp and scoped queries on `client`.
    pub async fn prepare(
        client: &Client,
        options: &InspectOptions,
    ) -> Result<Tracker, CatalogError> {
        let version = begin_snapshot(client).await?;
        let prepared = async {
            check_version(version)?;
            let stamp = stamp_queries(version);
            let scoped = queries(version, true);
            let members = members_query(true);
            let dependents = dependents_query();
            let stamp_statements = prepare(client, &stamp).await?;
            let scoped_statements = prepare(client, &scoped).await?;
            let mut single = prepare(client, &[members, dependents]).await?;
            let dependents_statement = single.pop();
            let members_statement = single.pop();
            Ok((
                stamp,
                stamp_statements,
                scoped,
                scoped_statements,
                members_statement,
                dependents_statement,
            ))
        }
        .await;
        let (stamp, stamp_statements, scoped, scoped_statements, members, dependents) =
            end_snapshot(client, prepared).await?;
        let (Some(members_statement), Some(dependents_statement)) = (members, dependents) else {
            return Err(CatalogError::Version);
        };
        Ok(Tracker {
            options: options.clone(),
            version,
            stamp,
            stamp_statements,
            scoped,
            scoped_statements,
            members: members_query(true),
            members_statement,
            dependents: dependents_query(),
            dependents_statement,
            last: None,
            verify: false,
        })
    }

    /// Checks every inspection that was not whole against a whole one, failing with
    /// [`CatalogError::Incremental`] when they differ (for tests: it costs a whole
    /// inspection each time).
    pub fn verify(mut self, verify: bool) -> Tracker {
        self.verify = verify;
        self
    }

    /// Makes the next inspection whole (after the database was replaced, for example).
    pub fn forget(&mut self) {
        self.last = None;
    }

    /// The schema as it is now. `client` is the connection the tracker was prepared on;
    /// `helpers`, further connections to the same database, share a whole inspection's
    /// queries.
    pub async fn inspect(
        &mut self,
        client: &Client,
        helpers: &[&Client],
    ) -> Result<Inspection, CatalogError> {
        if let Some(last) = self.last.take() {
            if let Some((inspection, next)) = self.scoped(client, helpers, last).await? {
                if self.verify {
                    let (whole, _) = super::inspect_shared(client, helpers, &self.options).await?;
                    if whole != inspection.schema {
                        return Err(CatalogError::Incremental {
                            scope: format!("{:?}", inspection.scope),
                            diff: super::diff_dumps(
                                &whole.to_text(),
                                &inspection.schema.to_text(),
                                "whole inspection",
                                "incremental inspection",
                            )
                            .unwrap_or_else(|| "(the dumps are equal; the models are not)".into()),
                        });
                    }
                }
                self.last = Some(next);
                return Ok(inspection);
            }
        }
        let (schema, last) = self.whole(client, helpers).await?;
        self.last = Some(last);
        Ok(Inspection {
            schema,
            scope: Scope::Whole,
        })
    }

    /// A whole inspection with a stamp and the relations' groups, in one snapshot.
    async fn whole(
        &self,
        client: &Client,
        helpers: &[&Client],
    ) -> Result<(Schema, Last), CatalogError> {
        let options = &self.options;
        let (mut rows, version) = shared_snapshot(client, helpers, |version, clients| async move {
            let mut all = queries(version, false);
            all.extend(stamp_queries(version));
            all.push(members_query(false));
            run_all(&clients, &all, None, &Bindings::for_options(options)).await
        })
        .await?;
        let Read {
            mut schema,
            relations,
        } = assemble(&mut rows, options)?;
        schema.server_major = ServerMajor::from_version_num(version);
        let stamp = Stamp::from_rows(&mut rows)?;
        let mut members = HashMap::new();
        read_members(
            rows.remove("members").unwrap_or_default(),
            &[],
            &mut members,
        )?;
        let last = Last {
            schema: schema.clone(),
            stamp,
            members,
            names: relations.into_iter().collect(),
        };
        Ok((schema, last))
    }

    /// The scoped inspection after `last`, or `None` when it needs a whole one.
    async fn scoped(
        &self,
        client: &Client,
        helpers: &[&Client],
        mut last: Last,
    ) -> Result<Option<(Inspection, Last)>, CatalogError> {
        // The stamp is spread over one helper too; what follows it is small.
        let helpers = &helpers[..helpers.len().min(1)];
        let last_ref = &mut last;
        let (changes, _) = shared_snapshot(client, helpers, |_, clients| async move {
            self.read_changes(&clients, last_ref).await
        })
        .await?;
        let Some((stamp, groups, read)) = changes else {
            return Ok(None);
        };
        let scope = match &read {
            None => Scope::Unchanged,
            Some(_) => Scope::Relations(groups.len()),
        };
        if let Some(read) = read {
            let gone: HashSet<QualifiedName> =
                groups.iter().filter_map(|g| last.names.remove(g)).collect();
            splice(&mut last.schema, &gone, read.schema);
            last.names.extend(read.relations);
        }
        last.members
            .retain(|relid, _| stamp.counts.contains_key(relid));
        last.stamp = stamp;
        Ok(Some((
            Inspection {
                schema: last.schema.clone(),
                scope,
            },
            last,
        )))
    }

    /// Inside the snapshot: the new stamp, the changed relations' groups, and their
    /// definitions read again (`None` when nothing changed); `None` overall when only a
    /// whole inspection will do. Learns new relations' groups into `last.members`.
    #[allow(clippy::type_complexity)]
    async fn read_changes(
        &self,
        clients: &[&Client],
        last: &mut Last,
    ) -> Result<Option<(Stamp, HashSet<u32>, Option<Read>)>, CatalogError> {
        let client = clients[0];
        let bindings = Bindings {
            horizon: last.stamp.horizon.clone(),
            ..Bindings::for_options(&self.options)
        };
        let mut rows = run_all(
            clients,
            &self.stamp,
            Some(&self.stamp_statements),
            &bindings,
        )
        .await?;
        let stamp = Stamp::from_rows(&mut rows)?;
        let Some(changed) = stamp.changed_since(&last.stamp) else {
            return Ok(None);
        };
        if changed.is_empty() {
            return Ok(Some((stamp, HashSet::new(), None)));
        }
        let mut groups = HashSet::new();
        let mut relids: Vec<u32> = changed.into_iter().collect();
        // A relation that is gone and was never seen was never in the schema.
        relids.retain(|r| stamp.counts.contains_key(r) || last.members.contains_key(r));
        if !self.group(client, &relids, last, &mut groups).await? {
            return Ok(None);
        }
        // What names a changed relation (a view over it, a foreign key to it, a default
        // on its sequence) renders differently when it changes. One level is enough: a
        // dependent renders what it names through that object's own catalog rows (name,
        // columns), and the dependent's own rows did not change.
        if groups.len() * 4 > last.names.len() + 16 {
            // Most of the schema: a whole inspection reads it faster.
            return Ok(None);
        }
        let seeds = with_members(&groups, &last.members);
        let found = run(
            client,
            &self.dependents,
            Some(&self.dependents_statement),
            &Bindings {
                relations: seeds,
                ..Bindings::default()
            },
        )
        .await?;
        let mut dependents = Vec::new();
        for dependent in read_dependents(found)? {
            match dependent {
                Some(relid) => dependents.push(relid),
                // A function, a publication...: not relation-level.
                None => return Ok(None),
            }
        }
        if !self.group(client, &dependents, last, &mut groups).await? {
            return Ok(None);
        }
        // The groups with their indexes and identity sequences, which the queries read
        // with them.
        let scoped = Bindings {
            relations: with_members(&groups, &last.members),
            ..Bindings::for_options(&self.options)
        };
        let mut rows = run_all(
            &[client],
            &self.scoped,
            Some(&self.scoped_statements),
            &scoped,
        )
        .await?;
        let read = assemble(&mut rows, &self.options)?;
        Ok(Some((stamp, groups, Some(read))))
    }

    /// Adds the groups of `relids` to `groups`, learning unknown relations' groups
    /// first. `false` when one of them needs a whole inspection.
    async fn group(
        &self,
        client: &Client,
        relids: &[u32],
        last: &mut Last,
        groups: &mut HashSet<u32>,
    ) -> Result<bool, CatalogError> {
        let unknown: Vec<u32> = relids
            .iter()
            .copied()
            .filter(|r| !last.members.contains_key(r))
            .collect::<HashSet<u32>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            let rows = run(
                client,
                &self.members,
                Some(&self.members_statement),
                &Bindings {
                    relations: unknown.clone(),
                    ..Bindings::for_options(&self.options)
                },
            )
            .await?;
            read_members(rows, &unknown, &mut last.members)?;
        }
        for relid in relids {
            match last.members.get(relid) {
                Some(Member::Of(group)) => {
                    groups.insert(*group);
                }
                Some(Member::Global) => return Ok(false),
                Some(Member::Outside) | None => {}
            }
        }
        Ok(true)
    }

    /// The server version the statements were prepared for.
    pub fn server_version(&self) -> i32 {
        self.version
    }
}

/// The relations of `groups`: each group's own and those that belong to it.
fn with_members(groups: &HashSet<u32>, members: &HashMap<u32, Member>) -> Vec<u32> {
    members
        .iter()
        .filter(|(_, m)| matches!(m, Member::Of(g) if groups.contains(g)))
        .map(|(relid, _)| *relid)
        .chain(groups.iter().copied())
        .collect::<HashSet<u32>>()
        .into_iter()
        .collect()
}

/// Replaces in `schema` every relation named in `gone` (and its indexes, triggers,
/// policies, rules and statistics) with what `fresh` holds.
fn splice(schema: &mut Schema, gone: &HashSet<QualifiedName>, fresh: Schema) {
    schema.tables.retain(|t| !gone.contains(&t.name));
    schema.views.retain(|v| !gone.contains(&v.name));
    schema
        .materialized_views
        .retain(|v| !gone.contains(&v.name));
    schema.foreign_tables.retain(|t| !gone.contains(&t.name));
    schema.sequences.retain(|s| !gone.contains(&s.name));
    schema.indexes.retain(|i| !gone.contains(&i.table));
    schema.triggers.retain(|t| !gone.contains(&t.table));
    schema.policies.retain(|p| !gone.contains(&p.table));
    schema.rules.retain(|r| !gone.contains(&r.table));
    schema.statistics.retain(|s| !gone.contains(&s.table));
    schema.tables.extend(fresh.tables);
    schema.views.extend(fresh.views);
    schema.materialized_views.extend(fresh.materialized_views);
    schema.foreign_tables.extend(fresh.foreign_tables);
    schema.sequences.extend(fresh.sequences);
    schema.indexes.extend(fresh.indexes);
    schema.triggers.extend(fresh.triggers);
    schema.policies.extend(fresh.policies);
    schema.rules.extend(fresh.rules);
    schema.statistics.extend(fresh.statistics);
    sort(schema);
}
