//! Kinds handled whole: collations, domains, composite and range types, casts,
//! materialized views, extended statistics, rules, event triggers, foreign data wrappers,
//! servers and tables, publications.
//!
//! Each object is compared through the catalog's own rendering of it (a [`Block`]), so
//! whatever the dump shows is compared, and a created object is exactly what the dump
//! prints. A changed comment is a `COMMENT ON`; a changed definition is altered in place
//! where PostgreSQL can (domain defaults and checks, composite attributes, wrapper and
//! server options, publication members and options), and otherwise dropped and created
//! again, unless something that holds data depends on it: then the change is reported as
//! unsupported instead of failing halfway through the migration. Types over an enum that
//! is recreated are recreated with it, by the planner (`Change::RecreateOverEnum`).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::catalog::{
    attribute_line, cast_types, publication_members, render_cast, render_collation,
    render_composite, render_domain, render_event_trigger, render_foreign_table,
    render_publication, render_range, render_rule, render_server, render_statistics, render_view,
    render_wrapper, Block, ForeignTable,
};
use crate::sql::{quote_ident, quote_literal};

/// One object of a whole-handled kind: how SQL names it, and the catalog's rendering.
pub(super) struct Whole {
    pub name: String,
    pub block: Block,
}

impl Whole {
    fn new(name: String, block: Block) -> Whole {
        Whole { name, block }
    }
}

pub(super) type Wholes = BTreeMap<String, Whole>;

/// Where a kind's changes go.
pub(super) struct Phases {
    /// Drops of objects that are gone.
    pub drop: Phase,
    /// Drops of objects about to be created again (before `add`).
    pub replace: Phase,
    pub add: Phase,
}

/// What the generic planning of a kind needs to know besides the objects.
#[derive(Clone, Copy)]
pub(super) struct Rules<'r> {
    /// Objects that must be recreated even when unchanged (their parent is reshaped).
    pub force: &'r dyn Fn(&str) -> bool,
    /// Objects that disappear without a `DROP` of their own (their parent goes).
    pub implicit_drop: &'r dyn Fn(&str) -> bool,
    /// Objects whose definition changes were already planned in place.
    pub altered: &'r BTreeSet<String>,
    /// Why a changed object cannot be dropped and created again (it holds or types data).
    pub pinned: &'r dyn Fn(&str) -> Option<String>,
}

impl Planner<'_> {
    /// Plans one kind; returns the keys of objects dropped and created again.
    pub(super) fn wholes(
        &mut self,
        kind: ObjectKind,
        from: &Wholes,
        to: &Wholes,
        phases: Phases,
        rules: Rules<'_>,
    ) -> BTreeSet<String> {
        let mut recreated = BTreeSet::new();
        for (key, new) in to {
            let Some(old) = from.get(key) else {
                self.push(phases.add, create(kind, new));
                continue;
            };
            // Types recreated with their enum (`Change::RecreateOverEnum`) are planned.
            let with_enum = self.recreated_over_enum.iter().any(|n| qn(n) == *key);
            let changed = !rules.altered.contains(key)
                && !with_enum
                && (old.block.definition() != new.block.definition() || (rules.force)(key));
            if !changed {
                self.object_comments(old, new);
                continue;
            }
            if let Some(reason) = (rules.pinned)(key) {
                self.push(
                    Phase::Unsupported,
                    Change::Unsupported {
                        kind: kind.noun(),
                        name: new.name.clone(),
                        detail: format!("its definition changes, but {reason}"),
                    },
                );
                continue;
            }
            recreated.insert(key.clone());
            if !(rules.implicit_drop)(key) {
                self.push(phases.replace, drop(kind, old));
            }
            self.push(phases.add, create(kind, new));
        }
        for (key, old) in from.iter().rev() {
            if !to.contains_key(key) && !(rules.implicit_drop)(key) {
                self.push(phases.drop, drop(kind, old));
            }
        }
        recreated
    }

    /// `COMMENT ON` for every comment of a kept object that differs.
    pub(super) fn object_comments(&mut self, old: &Whole, new: &Whole) {
        let before: BTreeMap<&String, &Option<String>> =
            old.block.comments.iter().map(|(t, c)| (t, c)).collect();
        for (target, comment) in &new.block.comments {
            let differs = match before.get(target) {
                Some(old) => *old != comment,
                None => comment.is_some(),
            };
            if differs {
                self.push(
                    Phase::Comments,
                    Change::SetComment {
                        target: CommentTarget::Object(target.clone()),
                        comment: comment.clone(),
                    },
                );
            }
        }
    }

    /// Everything but materialized views (planned with views) and their indexes.
    pub(super) fn whole_kinds(&mut self) {
        let none = |_: &str| false;
        let nothing = BTreeSet::new();
        let defaults = Rules {
            force: &none,
            implicit_drop: &none,
            altered: &nothing,
            pinned: &none_reason,
        };
        let (f, t) = (self.from, self.to);

        // Collations and types: a type in use cannot be dropped and created again.
        let collations = |s: &Schema| -> Wholes {
            s.collations
                .iter()
                .map(|c| (qn(&c.name), Whole::new(qn(&c.name), render_collation(c))))
                .collect()
        };
        let used_collation = |key: &str| collation_user(f, key);
        self.wholes(
            ObjectKind::Collation,
            &collations(f),
            &collations(t),
            Phases {
                drop: Phase::DropCollations,
                replace: Phase::ReplaceTypes,
                add: Phase::AddTypes,
            },
            Rules {
                pinned: &used_collation,
                ..defaults
            },
        );

        let domains = |s: &Schema| -> Wholes {
            s.domains
                .iter()
                .map(|d| (qn(&d.name), Whole::new(qn(&d.name), render_domain(d))))
                .collect()
        };
        let altered = self.alter_domains();
        let used_type = |key: &str| type_user(f, key);
        let type_phases = || Phases {
            drop: Phase::DropDerivedTypes,
            replace: Phase::ReplaceTypes,
            add: Phase::AddTypes,
        };
        self.wholes(
            ObjectKind::Domain,
            &domains(f),
            &domains(t),
            type_phases(),
            Rules {
                altered: &altered,
                pinned: &used_type,
                ..defaults
            },
        );

        let composites = |s: &Schema| -> Wholes {
            s.composites
                .iter()
                .map(|c| (qn(&c.name), Whole::new(qn(&c.name), render_composite(c))))
                .collect()
        };
        let altered = self.alter_composites();
        self.wholes(
            ObjectKind::CompositeType,
            &composites(f),
            &composites(t),
            type_phases(),
            Rules {
                altered: &altered,
                pinned: &used_type,
                ..defaults
            },
        );

        let ranges = |s: &Schema| -> Wholes {
            s.ranges
                .iter()
                .map(|r| (qn(&r.name), Whole::new(qn(&r.name), render_range(r))))
                .collect()
        };
        self.wholes(
            ObjectKind::RangeType,
            &ranges(f),
            &ranges(t),
            type_phases(),
            Rules {
                pinned: &used_type,
                ..defaults
            },
        );

        let casts = |s: &Schema| -> Wholes {
            s.casts
                .iter()
                .map(|c| (cast_types(c), Whole::new(cast_types(c), render_cast(c))))
                .collect()
        };
        self.wholes(
            ObjectKind::Cast,
            &casts(f),
            &casts(t),
            Phases {
                drop: Phase::DropCasts,
                replace: Phase::ReplaceTypes,
                add: Phase::AddCasts,
            },
            defaults,
        );

        // Foreign data: wrappers and servers are altered in place where they can be; a
        // foreign table holds no data, so it is simply created again.
        let wrappers = |s: &Schema| -> Wholes {
            s.foreign_data_wrappers
                .iter()
                .map(|w| {
                    let name = quote_ident(&w.name);
                    (name.clone(), Whole::new(name, render_wrapper(w)))
                })
                .collect()
        };
        let altered = self.alter_wrappers();
        let recreated_wrappers = self.wholes(
            ObjectKind::ForeignDataWrapper,
            &wrappers(f),
            &wrappers(t),
            Phases {
                drop: Phase::DropForeignWrappers,
                replace: Phase::DropForeignWrappers,
                add: Phase::AddForeignWrappers,
            },
            Rules {
                altered: &altered,
                ..defaults
            },
        );
        let servers = |s: &Schema| -> Wholes {
            s.foreign_servers
                .iter()
                .map(|v| {
                    let name = quote_ident(&v.name);
                    (name.clone(), Whole::new(name, render_server(v)))
                })
                .collect()
        };
        let altered = self.alter_servers(&recreated_wrappers);
        let wrapper_of: BTreeMap<String, String> = f
            .foreign_servers
            .iter()
            .map(|v| (quote_ident(&v.name), quote_ident(&v.wrapper)))
            .collect();
        let server_force = |key: &str| {
            wrapper_of
                .get(key)
                .is_some_and(|w| recreated_wrappers.contains(w))
        };
        let recreated_servers = self.wholes(
            ObjectKind::ForeignServer,
            &servers(f),
            &servers(t),
            Phases {
                drop: Phase::DropForeignServers,
                replace: Phase::DropForeignServers,
                add: Phase::AddForeignServers,
            },
            Rules {
                force: &server_force,
                altered: &altered,
                ..defaults
            },
        );
        let foreign_tables = |s: &Schema| -> Wholes {
            s.foreign_tables
                .iter()
                .map(|t| {
                    (
                        qn(&t.name),
                        Whole::new(qn(&t.name), render_foreign_table(t, partition_parent(s, t))),
                    )
                })
                .collect()
        };
        let server_of: BTreeMap<String, String> = f
            .foreign_tables
            .iter()
            .map(|t| (qn(&t.name), quote_ident(&t.server)))
            .collect();
        let table_force = |key: &str| {
            server_of
                .get(key)
                .is_some_and(|server| recreated_servers.contains(server))
        };
        let recreated = self.wholes(
            ObjectKind::ForeignTable,
            &foreign_tables(f),
            &foreign_tables(t),
            Phases {
                drop: Phase::DropForeignTables,
                replace: Phase::DropForeignTables,
                add: Phase::AddForeignTables,
            },
            Rules {
                force: &table_force,
                ..defaults
            },
        );
        // Views, triggers and policies on a recreated foreign table are recreated too.
        for table in &f.foreign_tables {
            if recreated.contains(&qn(&table.name)) {
                self.reshaped_tables.insert(table.name.clone());
            }
        }

        let publications = |s: &Schema| -> Wholes {
            s.publications
                .iter()
                .map(|p| {
                    let name = quote_ident(&p.name);
                    (name.clone(), Whole::new(name, render_publication(p)))
                })
                .collect()
        };
        let altered = self.alter_publications();
        self.wholes(
            ObjectKind::Publication,
            &publications(f),
            &publications(t),
            Phases {
                drop: Phase::DropPolicies,
                replace: Phase::DropPolicies,
                add: Phase::AddPolicies,
            },
            Rules {
                altered: &altered,
                ..defaults
            },
        );

        let event_triggers = |s: &Schema| -> Wholes {
            s.event_triggers
                .iter()
                .map(|e| {
                    let name = quote_ident(&e.name);
                    (name.clone(), Whole::new(name, render_event_trigger(e)))
                })
                .collect()
        };
        // Only the enabled state changes: ALTER EVENT TRIGGER instead of recreating it.
        let mut altered = BTreeSet::new();
        for new in &t.event_triggers {
            let Some(old) = f.event_triggers.iter().find(|o| o.name == new.name) else {
                continue;
            };
            let mut same = old.clone();
            same.enabled = new.enabled.clone();
            same.comment = new.comment.clone();
            if same == *new && old.enabled != new.enabled {
                let name = quote_ident(&new.name);
                altered.insert(name.clone());
                self.push(
                    Phase::AddTriggers,
                    Change::AlterObject {
                        kind: ObjectKind::EventTrigger,
                        name: name.clone(),
                        statements: vec![plain(format!(
                            "ALTER EVENT TRIGGER {name} {}",
                            enable_clause(&new.enabled)
                        ))],
                    },
                );
            }
        }
        self.wholes(
            ObjectKind::EventTrigger,
            &event_triggers(f),
            &event_triggers(t),
            Phases {
                drop: Phase::DropTriggers,
                replace: Phase::DropTriggers,
                add: Phase::AddTriggers,
            },
            Rules {
                altered: &altered,
                ..defaults
            },
        );
    }

    /// Extended statistics and rules: children of a relation, recreated with it. Runs
    /// after views (which decides which relations are recreated).
    pub(super) fn relation_children(&mut self) {
        let (f, t) = (self.from, self.to);
        let nothing = BTreeSet::new();
        // A relation that is gone, or dropped and created again, takes its children along.
        let recreated = self.recreated_relations.clone();
        let reshaped = self.reshaped_tables.clone();
        let gone = |relation: &QualifiedName| {
            recreated.contains(relation) || !relation_exists(t, relation)
        };
        let statistics = |s: &Schema| -> Wholes {
            s.statistics
                .iter()
                .map(|x| (qn(&x.name), Whole::new(qn(&x.name), render_statistics(x))))
                .collect()
        };
        // Looked up for every statistics object: a map, not a scan each time.
        let parents: BTreeMap<String, &QualifiedName> = f
            .statistics
            .iter()
            .map(|x| (qn(&x.name), &x.table))
            .collect();
        let parent = |key: &str| parents.get(key).copied();
        let force = |key: &str| parent(key).is_some_and(|p| reshaped.contains(p));
        let implicit = |key: &str| parent(key).is_some_and(gone);
        // Created last among relation children: a materialized view must exist first.
        self.wholes(
            ObjectKind::Statistics,
            &statistics(f),
            &statistics(t),
            Phases {
                drop: Phase::DropIndexes,
                replace: Phase::DropIndexes,
                add: Phase::AddViewIndexes,
            },
            Rules {
                force: &force,
                implicit_drop: &implicit,
                altered: &nothing,
                pinned: &none_reason,
            },
        );

        let rule_key =
            |r: &crate::catalog::Rule| format!("{} ON {}", quote_ident(&r.name), qn(&r.table));
        let rules_of = |s: &Schema| -> Wholes {
            s.rules
                .iter()
                .map(|r| (rule_key(r), Whole::new(rule_key(r), render_rule(r))))
                .collect()
        };
        let parents: BTreeMap<String, &QualifiedName> =
            f.rules.iter().map(|r| (rule_key(r), &r.table)).collect();
        let parent = |key: &str| parents.get(key).copied();
        let force = |key: &str| parent(key).is_some_and(|p| reshaped.contains(p));
        let implicit = |key: &str| parent(key).is_some_and(gone);
        // Only the enabled state changes: ALTER TABLE ... ENABLE/DISABLE RULE.
        let mut toggled = BTreeSet::new();
        for new in &t.rules {
            let key = rule_key(new);
            let Some(old) = f.rules.iter().find(|o| rule_key(o) == key) else {
                continue;
            };
            if old.definition == new.definition
                && old.enabled != new.enabled
                && !force(&key)
                && !implicit(&key)
            {
                toggled.insert(key.clone());
                self.push(
                    Phase::AddTriggers,
                    Change::AlterObject {
                        kind: ObjectKind::Rule,
                        name: key,
                        statements: vec![plain(format!(
                            "ALTER TABLE {} {} RULE {}",
                            qn(&new.table),
                            enable_clause(&new.enabled),
                            quote_ident(&new.name)
                        ))],
                    },
                );
            }
        }
        self.wholes(
            ObjectKind::Rule,
            &rules_of(f),
            &rules_of(t),
            Phases {
                drop: Phase::DropTriggers,
                replace: Phase::DropTriggers,
                add: Phase::AddTriggers,
            },
            Rules {
                force: &force,
                implicit_drop: &implicit,
                altered: &toggled,
                pinned: &none_reason,
            },
        );
    }

    /// Publications whose members or options change are altered, never dropped and
    /// created again: a subscriber's walsender looks its publications up by name, and
    /// one recreated under it fails replication ("publication does not exist") until
    /// it is restarted. Only a switch to or from `FOR ALL TABLES`, a change of owner,
    /// or a publication left with no members (`SET` needs a list) is recreated.
    /// Returns the publications handled.
    fn alter_publications(&mut self) -> BTreeSet<String> {
        let mut handled = BTreeSet::new();
        let from = by_ref(&self.from.publications, |p| &p.name);
        for new in &self.to.publications {
            let Some(old) = from.get(&new.name) else {
                continue;
            };
            let members_change = old.tables != new.tables || old.schemas != new.schemas;
            let emptied = !new.all_tables && new.tables.is_empty() && new.schemas.is_empty();
            if old.all_tables != new.all_tables
                || old.owner != new.owner
                || (members_change && emptied)
            {
                continue;
            }
            let name = quote_ident(&new.name);
            handled.insert(name.clone());
            let mut statements = Vec::new();
            if members_change && !new.all_tables {
                statements.push(plain(format!(
                    "ALTER PUBLICATION {name} SET {}",
                    publication_members(new).join(", ")
                )));
            }
            if old.publish != new.publish || old.via_root != new.via_root {
                statements.push(plain(format!(
                    "ALTER PUBLICATION {name} SET (publish = {}, publish_via_partition_root = {})",
                    quote_literal(&new.publish.join(", ")),
                    new.via_root
                )));
            }
            if !statements.is_empty() {
                self.push(
                    Phase::AddPolicies,
                    Change::AlterObject {
                        kind: ObjectKind::Publication,
                        name,
                        statements,
                    },
                );
            }
        }
        // Their comments are compared with every kept object's.
        handled
    }

    /// Domains whose base type and collation stay: defaults, NOT NULL and checks are
    /// altered in place (a domain in use cannot be dropped). Returns the domains handled.
    fn alter_domains(&mut self) -> BTreeSet<String> {
        let mut handled = BTreeSet::new();
        let from = by_ref(&self.from.domains, |d| &d.name);
        for new in &self.to.domains {
            let Some(old) = from.get(&new.name) else {
                continue;
            };
            // Recreated with their enum instead (`Change::RecreateOverEnum`).
            if self.recreated_over_enum.contains(&new.name) {
                continue;
            }
            if old.base_type != new.base_type || old.collation != new.collation {
                continue;
            }
            let name = qn(&new.name);
            handled.insert(name.clone());
            let mut statements = Vec::new();
            if old.default != new.default {
                statements.push(plain(match &new.default {
                    Some(default) => format!("ALTER DOMAIN {name} SET DEFAULT {default}"),
                    None => format!("ALTER DOMAIN {name} DROP DEFAULT"),
                }));
            }
            if old.not_null != new.not_null {
                let verb = if new.not_null { "SET" } else { "DROP" };
                statements.push(plain(format!("ALTER DOMAIN {name} {verb} NOT NULL")));
            }
            let same = |a: &Constraint, b: &Constraint| {
                a.name == b.name && a.definition == b.definition && a.validated == b.validated
            };
            for check in &old.checks {
                if !new.checks.iter().any(|c| same(c, check)) {
                    statements.push(plain(format!(
                        "ALTER DOMAIN {name} DROP CONSTRAINT {}",
                        quote_ident(&check.name)
                    )));
                }
            }
            for check in &new.checks {
                if !old.checks.iter().any(|c| same(c, check)) {
                    let not_valid = if check.validated { "" } else { " NOT VALID" };
                    statements.push(Statement {
                        sql: format!(
                            "ALTER DOMAIN {name} ADD CONSTRAINT {} {}{not_valid}",
                            quote_ident(&check.name),
                            check.definition
                        ),
                        hazards: vec![Hazard {
                            kind: HazardKind::CastMayFail,
                            message: format!(
                                "existing values of columns of domain {name} must pass check {}",
                                quote_ident(&check.name)
                            ),
                        }],
                    });
                }
            }
            if !statements.is_empty() {
                self.push(
                    Phase::AddTypes,
                    Change::AlterObject {
                        kind: ObjectKind::Domain,
                        name,
                        statements,
                    },
                );
            }
        }
        handled
    }

    /// Composite types whose attributes can be reached by dropping and adding attributes
    /// (and, when no column stores the type, changing their types). Returns those handled.
    fn alter_composites(&mut self) -> BTreeSet<String> {
        let mut handled = BTreeSet::new();
        let from = by_ref(&self.from.composites, |c| &c.name);
        for new in &self.to.composites {
            let Some(old) = from.get(&new.name) else {
                continue;
            };
            // Recreated with their enum instead (`Change::RecreateOverEnum`).
            if self.recreated_over_enum.contains(&new.name) {
                continue;
            }
            let name = qn(&new.name);
            let stored = table_column_of_type(self.from, &name).is_some();
            // Attributes keep their order; added ones go last.
            let kept: Vec<&Column> = old
                .attributes
                .iter()
                .filter(|a| new.attributes.iter().any(|n| n.name == a.name))
                .collect();
            let added: Vec<&Column> = new
                .attributes
                .iter()
                .filter(|a| !old.attributes.iter().any(|o| o.name == a.name))
                .collect();
            let order: Vec<&str> = kept
                .iter()
                .chain(added.iter())
                .map(|a| a.name.as_str())
                .collect();
            let wanted: Vec<&str> = new.attributes.iter().map(|a| a.name.as_str()).collect();
            let retyped: Vec<&Column> = new
                .attributes
                .iter()
                .filter(|a| {
                    kept.iter().any(|k| {
                        k.name == a.name
                            && (k.data_type != a.data_type || k.collation != a.collation)
                    })
                })
                .collect();
            if order != wanted || (stored && !retyped.is_empty()) {
                continue;
            }
            handled.insert(name.clone());
            let mut statements = Vec::new();
            for a in old
                .attributes
                .iter()
                .filter(|a| !kept.iter().any(|k| k.name == a.name))
            {
                statements.push(Statement {
                    sql: format!("ALTER TYPE {name} DROP ATTRIBUTE {}", quote_ident(&a.name)),
                    hazards: if stored {
                        vec![Hazard {
                            kind: HazardKind::DataLoss,
                            message: format!(
                                "drops attribute {} of {name} from every stored value",
                                quote_ident(&a.name)
                            ),
                        }]
                    } else {
                        Vec::new()
                    },
                });
            }
            for a in &added {
                statements.push(plain(format!(
                    "ALTER TYPE {name} ADD ATTRIBUTE {}",
                    attribute_line(a)
                )));
            }
            for a in &retyped {
                let mut sql = format!(
                    "ALTER TYPE {name} ALTER ATTRIBUTE {} TYPE {}",
                    quote_ident(&a.name),
                    a.data_type
                );
                if let Some(collation) = &a.collation {
                    sql.push_str(&format!(" COLLATE {collation}"));
                }
                statements.push(plain(sql));
            }
            // Attribute comments live in the block's comments; set apart by `wholes`.
            if !statements.is_empty() {
                self.push(
                    Phase::AddTypes,
                    Change::AlterObject {
                        kind: ObjectKind::CompositeType,
                        name,
                        statements,
                    },
                );
            }
        }
        handled
    }

    /// Wrappers: handler, validator and options are all alterable.
    fn alter_wrappers(&mut self) -> BTreeSet<String> {
        let mut handled = BTreeSet::new();
        let from = by_ref(&self.from.foreign_data_wrappers, |w| &w.name);
        for new in &self.to.foreign_data_wrappers {
            let Some(old) = from.get(&new.name) else {
                continue;
            };
            let name = quote_ident(&new.name);
            handled.insert(name.clone());
            let mut clauses = Vec::new();
            if old.handler != new.handler {
                clauses.push(match &new.handler {
                    Some(h) => format!("HANDLER {h}"),
                    None => "NO HANDLER".to_string(),
                });
            }
            if old.validator != new.validator {
                clauses.push(match &new.validator {
                    Some(v) => format!("VALIDATOR {v}"),
                    None => "NO VALIDATOR".to_string(),
                });
            }
            if let Some(options) = alter_options(&old.options, &new.options) {
                clauses.push(options);
            }
            if !clauses.is_empty() {
                self.push(
                    Phase::AddForeignWrappers,
                    Change::AlterObject {
                        kind: ObjectKind::ForeignDataWrapper,
                        name: name.clone(),
                        statements: vec![plain(format!(
                            "ALTER FOREIGN DATA WRAPPER {name} {}",
                            clauses.join(" ")
                        ))],
                    },
                );
            }
        }
        handled
    }

    /// Servers keeping their wrapper and type: version and options are alterable.
    fn alter_servers(&mut self, recreated_wrappers: &BTreeSet<String>) -> BTreeSet<String> {
        let mut handled = BTreeSet::new();
        let from = by_ref(&self.from.foreign_servers, |s| &s.name);
        for new in &self.to.foreign_servers {
            let Some(old) = from.get(&new.name) else {
                continue;
            };
            if old.wrapper != new.wrapper
                || old.server_type != new.server_type
                || recreated_wrappers.contains(&quote_ident(&new.wrapper))
            {
                continue;
            }
            let name = quote_ident(&new.name);
            handled.insert(name.clone());
            let mut clauses = Vec::new();
            if old.version != new.version {
                clauses.push(match &new.version {
                    Some(v) => format!("VERSION {}", quote_literal(v)),
                    None => "VERSION NULL".to_string(),
                });
            }
            if let Some(options) = alter_options(&old.options, &new.options) {
                clauses.push(options);
            }
            if !clauses.is_empty() {
                self.push(
                    Phase::AddForeignServers,
                    Change::AlterObject {
                        kind: ObjectKind::ForeignServer,
                        name: name.clone(),
                        statements: vec![plain(format!(
                            "ALTER SERVER {name} {}",
                            clauses.join(" ")
                        ))],
                    },
                );
            }
        }
        handled
    }

    /// Materialized views keyed by name, for `views`.
    pub(super) fn materialized(schema: &Schema) -> Wholes {
        schema
            .materialized_views
            .iter()
            .map(|v| (qn(&v.name), Whole::new(qn(&v.name), render_view(v, true))))
            .collect()
    }
}

/// `ENABLE`, `DISABLE`, `ENABLE REPLICA` or `ENABLE ALWAYS` for a catalog state.
fn enable_clause(enabled: &str) -> &'static str {
    match enabled {
        "disabled" => "DISABLE",
        "replica" => "ENABLE REPLICA",
        "always" => "ENABLE ALWAYS",
        _ => "ENABLE",
    }
}

fn none_reason(_: &str) -> Option<String> {
    None
}

fn plain(sql: String) -> Statement {
    Statement {
        sql,
        hazards: Vec::new(),
    }
}

fn create(kind: ObjectKind, object: &Whole) -> Change {
    Change::CreateObject {
        kind,
        name: object.name.clone(),
        statements: object.block.statements.clone(),
    }
}

fn drop(kind: ObjectKind, object: &Whole) -> Change {
    Change::DropObject {
        kind,
        name: object.name.clone(),
    }
}

/// `OPTIONS (ADD k 'v', SET k 'v', DROP k)` turning one raw `key=value` list into another.
fn alter_options(old: &[String], new: &[String]) -> Option<String> {
    let split = |o: &String| match o.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (o.clone(), String::new()),
    };
    let old: BTreeMap<String, String> = old.iter().map(split).collect();
    let new: BTreeMap<String, String> = new.iter().map(split).collect();
    let mut items = Vec::new();
    for (key, value) in &new {
        match old.get(key) {
            None => items.push(format!("ADD {} {}", quote_ident(key), quote_literal(value))),
            Some(v) if v != value => {
                items.push(format!("SET {} {}", quote_ident(key), quote_literal(value)))
            }
            Some(_) => {}
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        items.push(format!("DROP {}", quote_ident(key)));
    }
    (!items.is_empty()).then(|| format!("OPTIONS ({})", items.join(", ")))
}

/// The partitioned table a foreign table is a partition of, when `schema` holds it.
fn partition_parent<'s>(schema: &'s Schema, table: &ForeignTable) -> Option<&'s Table> {
    let parent = &table.partition_of.as_ref()?.parent;
    schema.tables.iter().find(|t| &t.name == parent)
}

/// Whether a relation of any kind with this name exists in `schema`.
fn relation_exists(schema: &Schema, name: &QualifiedName) -> bool {
    schema.tables.iter().any(|t| &t.name == name)
        || schema.views.iter().any(|v| &v.name == name)
        || schema.materialized_views.iter().any(|v| &v.name == name)
        || schema.foreign_tables.iter().any(|t| &t.name == name)
}

/// A table column storing values of the type `name` (or arrays of it).
fn table_column_of_type(schema: &Schema, name: &str) -> Option<String> {
    let array = format!("{name}[]");
    for table in &schema.tables {
        for column in &table.columns {
            if column.data_type == name || column.data_type == array {
                return Some(format!(
                    "column {}.{} stores it",
                    qn(&table.name),
                    quote_ident(&column.name)
                ));
            }
        }
    }
    None
}

/// Why the type `name` cannot be dropped: a column, attribute, domain or routine uses it.
fn type_user(schema: &Schema, name: &str) -> Option<String> {
    if let Some(user) = table_column_of_type(schema, name) {
        return Some(user);
    }
    let array = format!("{name}[]");
    let is = |t: &str| t == name || t == array;
    for c in &schema.composites {
        if c.attributes.iter().any(|a| is(&a.data_type)) {
            return Some(format!("composite type {} uses it", qn(&c.name)));
        }
    }
    for d in &schema.domains {
        if is(&d.base_type) {
            return Some(format!("domain {} is based on it", qn(&d.name)));
        }
    }
    for r in &schema.ranges {
        if is(&r.subtype) {
            return Some(format!("range type {} uses it", qn(&r.name)));
        }
    }
    for t in &schema.foreign_tables {
        if t.columns.iter().any(|c| is(&c.data_type)) {
            return Some(format!("foreign table {} uses it", qn(&t.name)));
        }
    }
    for f in &schema.functions {
        if f.arguments.contains(name)
            || f.definition
                .lines()
                .any(|l| l.contains(name) && l.trim_start().starts_with("RETURNS"))
        {
            return Some(format!("function {}({}) uses it", qn(&f.name), f.arguments));
        }
    }
    None
}

/// Why the collation `name` cannot be dropped: a column or domain uses it.
fn collation_user(schema: &Schema, name: &str) -> Option<String> {
    for table in &schema.tables {
        for column in &table.columns {
            if column.collation.as_deref() == Some(name) {
                return Some(format!(
                    "column {}.{} uses it",
                    qn(&table.name),
                    quote_ident(&column.name)
                ));
            }
        }
    }
    schema
        .domains
        .iter()
        .find(|d| d.collation.as_deref() == Some(name))
        .map(|d| format!("domain {} uses it", qn(&d.name)))
}
