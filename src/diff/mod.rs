//! The schema diff engine: turns two catalog models into ordered [`Change`]s and renders
//! them as SQL [`Statement`]s, each with the [`Hazard`]s a reviewer must know about.
//!
//! [`diff`] is pure: it compares two [`Schema`] values and never reads files or talks to a
//! database. Ordering is a fixed phase list (a simple first version: a dependency graph
//! can replace it without changing the API), refined
//! by references inside the phases where objects of one kind build on each other:
//!
//! 1. drops of dependents: policies, triggers, views (dependents first), foreign keys,
//!    other constraints, indexes, `BEGIN ATOMIC` functions reading a relation (their
//!    body depends on it) or using a dropped relation's row type, column defaults calling a function that is replaced,
//!    sequence ownership; then functions that must be dropped to be created again (a
//!    changed return type, or a recreated enum in their signature);
//! 2. creations and alterations: schemas, extensions; types, sequences and functions
//!    together, each after the types and functions its definition names (a domain over
//!    a domain, a composite over a composite, a domain check calling a function, a
//!    function taking a domain); tables with parents before their partitions and
//!    inheritance children, columns, constraints (primary/unique/check), indexes, then
//!    foreign keys (they need the unique constraint or index they reference), sequence
//!    ownership, views and materialized views (each after those it reads), their
//!    indexes, `BEGIN ATOMIC` functions that read a relation (PostgreSQL checks such a
//!    body at creation) and functions taking or returning a new relation's row type,
//!    sorted with the views by references, then triggers, policies, comments;
//! 3. drops of what the dependents used to need: tables (inheritance children first; a
//!    partition of a dropped table goes with it), functions, sequences and derived types
//!    (dependents first), enums, collations, extensions, schemas.
//!
//! A `LANGUAGE sql` function with a string body records no dependency in PostgreSQL, so
//! nothing orders it after the tables it reads: a script creating one runs between `SET
//! check_function_bodies = false` and `RESET check_function_bodies`, as pg_dump does.
//!
//! Objects the catalog gives as PostgreSQL's own definitions (`pg_get_constraintdef`,
//! `pg_get_indexdef`, `pg_get_viewdef`, ...) cannot be altered in place here: a changed
//! definition is a drop plus a create. Columns are never dropped and re-added (that loses
//! data, diesel's mistake); they are altered. Kinds the engine does not diff yet yield
//! [`Change::Unsupported`], rendered as a comment with a hazard, so that a difference is
//! never silently lost.

mod cast;
mod order;
mod plan;
mod rename;
mod render;

#[cfg(test)]
mod tests;

use crate::catalog::{
    Column, Constraint, ConstraintKind, EnumType, Extension, Function, FunctionKind, Identity,
    Index, NotNullConstraint, Policy, QualifiedName, Schema, Sequence, SequenceOptions, Table,
    Trigger, View,
};

pub use cast::CastPath;
pub use plan::diff;
pub use rename::{diff_with_renames, rename_hints, Rename, RenameError, RenameKind};
pub use render::{needs_autocommit, render, render_online, to_script, MANUAL_STEP};

/// One SQL statement of a migration, without trailing semicolon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub hazards: Vec<Hazard>,
}

/// Why a statement deserves a second look; rendered as `-- WARNING:` lines above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hazard {
    pub kind: HazardKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HazardKind {
    /// Drops data: a table, a column, a type, or a type change that can lose values.
    DataLoss,
    /// A statement existing rows can make fail: a type change or enum recreation whose
    /// cast fails, `SET NOT NULL` on NULLs, `ADD COLUMN ... NOT NULL` without a default.
    CastMayFail,
    /// An identity added to a column that may hold values already: its sequence starts
    /// at its `START` value regardless, so later inserts can collide with existing rows
    /// until it is moved past them (`ALTER COLUMN ... RESTART WITH`).
    IdentityBehindRows,
    /// `ALTER TYPE ... ADD VALUE`: the new label cannot be used in the same transaction.
    EnumValueInTransaction,
    /// Rewrites the whole table under an ACCESS EXCLUSIVE lock (`SET LOGGED`, `SET
    /// ACCESS METHOD`): minutes to hours on a large table.
    Rewrite,
    /// A difference the engine cannot generate SQL for; the migration is incomplete.
    Unsupported,
    /// A statement the user must finish by hand (a type change PostgreSQL has no cast
    /// for): it is written under a `-- retort: manual step:` comment and fails as
    /// generated, so an unedited revision cannot half-apply.
    ManualStep,
}

/// One difference between two schemas, as data; [`render`] turns it into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddSchema {
        name: String,
    },
    DropSchema {
        name: String,
    },
    AddExtension(Extension),
    AlterExtension {
        name: String,
        version: String,
    },
    DropExtension {
        name: String,
    },
    AddEnum(EnumType),
    /// `ALTER TYPE ... ADD VALUE`: only for labels inserted while the old order is kept.
    AddEnumValue {
        name: QualifiedName,
        label: String,
        position: EnumPosition,
    },
    /// Removed or reordered labels: rename the old type to `old_name`, create the new one,
    /// move the columns over through text. The old type is dropped later by a
    /// [`Change::DropEnum`] of `old_name`, once dropped columns and tables are gone.
    RecreateEnum {
        to: EnumType,
        old_name: QualifiedName,
        columns: Vec<EnumColumn>,
        /// Labels of the old type missing from the new one (rows holding them fail).
        removed: Vec<String>,
    },
    DropEnum {
        name: QualifiedName,
    },
    /// A domain or composite type over a recreated enum, recreated with it: the old
    /// type renamed to `old_name` (dropped later), the type created again (`create`, the
    /// target's definition) over the new enum, its columns retyped through text.
    RecreateOverEnum {
        kind: ObjectKind,
        name: QualifiedName,
        create: Vec<String>,
        old_name: QualifiedName,
        columns: Vec<EnumColumn>,
        /// The enum's labels missing from its new definition (rows holding them fail).
        removed: Vec<String>,
        /// A range type has a multirange type to move aside too (PostgreSQL 14 and later;
        /// assumed when the schema's major is unknown).
        multirange: bool,
    },
    AddSequence(Sequence),
    AlterSequence {
        name: QualifiedName,
        from: SequenceOptions,
        to: SequenceOptions,
    },
    /// `ALTER SEQUENCE ... OWNED BY table.column` or `OWNED BY NONE`.
    SetSequenceOwner {
        name: QualifiedName,
        owned_by: Option<(QualifiedName, String)>,
    },
    DropSequence {
        name: QualifiedName,
    },
    /// Creates the table with its columns and non-foreign-key constraints; foreign keys
    /// come later as [`TableChange::AddConstraint`], once every table exists.
    AddTable(Table),
    /// A partition, created with `PARTITION OF` after its parent, like [`Change::AddTable`]
    /// otherwise: its column list says only what differs from `parent_columns` (its
    /// parent's, in the target schema), since PostgreSQL rejects types there.
    AddPartition {
        table: Table,
        parent_columns: Vec<Column>,
    },
    AlterTable {
        name: QualifiedName,
        changes: Vec<TableChange>,
    },
    DropTable {
        name: QualifiedName,
    },
    AddIndex(Index),
    DropIndex {
        name: QualifiedName,
    },
    AddView(View),
    DropView {
        name: QualifiedName,
    },
    /// The catalog's definition (`CREATE OR REPLACE FUNCTION ...` for functions and
    /// procedures), so it also replaces a changed body in place.
    AddFunction(Function),
    DropFunction {
        name: QualifiedName,
        arguments: String,
        kind: FunctionKind,
    },
    AddTrigger(Trigger),
    DropTrigger {
        table: QualifiedName,
        name: String,
    },
    AddPolicy(Policy),
    DropPolicy {
        table: QualifiedName,
        name: String,
    },
    SetComment {
        target: CommentTarget,
        comment: Option<String>,
    },
    /// An object of a kind handled whole (see [`ObjectKind`]), created with the
    /// statements the catalog's dump shows for it (definition, comments, ...).
    CreateObject {
        kind: ObjectKind,
        /// As SQL names it: `public.d`, `(text AS public.t)`, `r ON public.t`.
        name: String,
        statements: Vec<String>,
    },
    /// In-place alterations of such an object (domain checks, composite attributes,
    /// wrapper and server options).
    AlterObject {
        kind: ObjectKind,
        name: String,
        statements: Vec<Statement>,
    },
    DropObject {
        kind: ObjectKind,
        name: String,
    },
    /// A rename declared with `--rename` (see [`diff_with_renames`]).
    Rename {
        /// The declaration, as `table:public.users=public.people`.
        what: String,
        statements: Vec<String>,
    },
    /// A difference of a kind the engine does not handle yet.
    Unsupported {
        kind: &'static str,
        name: String,
        detail: String,
    },
}

/// Kinds the engine compares through the catalog's rendering and, when their definition
/// changes, alters in place where PostgreSQL can or else drops and creates again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Collation,
    Domain,
    CompositeType,
    RangeType,
    Cast,
    MaterializedView,
    Statistics,
    Rule,
    EventTrigger,
    ForeignDataWrapper,
    ForeignServer,
    ForeignTable,
    Publication,
}

impl ObjectKind {
    /// The words of `DROP <kind> <name>`.
    pub fn sql(self) -> &'static str {
        match self {
            ObjectKind::Collation => "COLLATION",
            ObjectKind::Domain => "DOMAIN",
            ObjectKind::CompositeType | ObjectKind::RangeType => "TYPE",
            ObjectKind::Cast => "CAST",
            ObjectKind::MaterializedView => "MATERIALIZED VIEW",
            ObjectKind::Statistics => "STATISTICS",
            ObjectKind::Rule => "RULE",
            ObjectKind::EventTrigger => "EVENT TRIGGER",
            ObjectKind::ForeignDataWrapper => "FOREIGN DATA WRAPPER",
            ObjectKind::ForeignServer => "SERVER",
            ObjectKind::ForeignTable => "FOREIGN TABLE",
            ObjectKind::Publication => "PUBLICATION",
        }
    }

    /// For messages.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Collation => "collation",
            ObjectKind::Domain => "domain",
            ObjectKind::CompositeType => "composite type",
            ObjectKind::RangeType => "range type",
            ObjectKind::Cast => "cast",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Statistics => "statistics",
            ObjectKind::Rule => "rule",
            ObjectKind::EventTrigger => "event trigger",
            ObjectKind::ForeignDataWrapper => "foreign data wrapper",
            ObjectKind::ForeignServer => "server",
            ObjectKind::ForeignTable => "foreign table",
            ObjectKind::Publication => "publication",
        }
    }
}

/// Where `ALTER TYPE ... ADD VALUE` puts the new label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumPosition {
    /// The type had no labels.
    Last,
    Before(String),
    After(String),
}

/// A column moved to a recreated enum type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumColumn {
    pub table: QualifiedName,
    pub column: String,
    /// An array of the enum (`type[]`).
    pub array: bool,
    /// Whether the column has a default, dropped before the type change (it references
    /// the old type).
    pub had_default: bool,
    /// The default set again afterwards, when the new schema keeps it unchanged (a
    /// changed default is set by the column's own alteration).
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    AddColumn(Column),
    DropColumn {
        name: String,
    },
    AlterColumn {
        name: String,
        change: ColumnChange,
    },
    AddConstraint(Constraint),
    DropConstraint {
        name: String,
        kind: ConstraintKind,
    },
    SetRowSecurity(bool),
    SetForceRowSecurity(bool),
    /// `SET LOGGED` (true) or `SET UNLOGGED`.
    SetLogged(bool),
    /// Storage parameters: `SET (k=v, ...)` and `RESET (k, ...)`.
    SetOptions {
        set: Vec<String>,
        reset: Vec<String>,
    },
    /// `SET ACCESS METHOD` (PostgreSQL 15+; rewrites the table).
    SetAccessMethod(String),
    /// `REPLICA IDENTITY FULL | NOTHING | USING INDEX i`; `None` is `DEFAULT`.
    SetReplicaIdentity(Option<String>),
    /// `CLUSTER ON i`; `None` is `SET WITHOUT CLUSTER`.
    SetClusterOn(Option<String>),
    Inherit(QualifiedName),
    NoInherit(QualifiedName),
    /// On the partitioned table: `ATTACH PARTITION p FOR VALUES ...`.
    AttachPartition {
        partition: QualifiedName,
        bound: String,
    },
    DetachPartition {
        partition: QualifiedName,
    },
    /// After a `DETACH PARTITION`, on the detached table: the constraints and indexes
    /// cloned from the parent stay behind as the table's own under names PostgreSQL
    /// chose, so every one not listed here (the table's own) is dropped by name at run
    /// time.
    DropDetachedClones {
        keep_constraints: Vec<String>,
        keep_indexes: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnChange {
    /// `ALTER COLUMN ... TYPE to [COLLATE c] [USING col::to]`.
    SetType {
        from: String,
        to: String,
        collation: Option<String>,
        /// Whether a `USING` cast is written (false only for binary-compatible widenings).
        using: bool,
        /// Whether values can be lost or rejected (anything but a known widening).
        narrowing: bool,
        /// How the values are converted: directly, through another type (an enum
        /// through text), or not at all (a manual step).
        path: CastPath,
    },
    SetDefault(String),
    DropDefault,
    SetNotNull,
    DropNotNull,
    /// `ADD CONSTRAINT name NOT NULL col [NO INHERIT] [NOT VALID]` (PostgreSQL 18), for a
    /// NOT NULL that is more than the plain clause.
    AddNotNull(NotNullConstraint),
    /// A NOT NULL constraint renamed, validated, or replaced (18); `None`: the plain one.
    AlterNotNull {
        from: Option<NotNullConstraint>,
        to: Option<NotNullConstraint>,
    },
    AddIdentity(Identity),
    DropIdentity,
    /// `SET GENERATED ALWAYS | BY DEFAULT`.
    SetGenerated {
        always: bool,
    },
    /// `SET INCREMENT BY ...` and friends on the identity sequence (never `RESTART`).
    SetIdentityOptions {
        from: SequenceOptions,
        to: SequenceOptions,
    },
    /// `SET STATISTICS n`; `None` restores the default (-1).
    SetStatistics(Option<i32>),
    /// `SET STORAGE PLAIN | EXTERNAL | EXTENDED | MAIN`.
    SetStorage(String),
}

/// The object of a `COMMENT ON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentTarget {
    Schema(String),
    Table(QualifiedName),
    Column(QualifiedName, String),
    Type(QualifiedName),
    Sequence(QualifiedName),
    View(QualifiedName),
    Index(QualifiedName),
    Constraint(QualifiedName, String),
    Function(QualifiedName, String, FunctionKind),
    Trigger(QualifiedName, String),
    Policy(QualifiedName, String),
    /// Any other target, as the catalog's dump writes it (`DOMAIN public.d`, ...).
    Object(String),
}
