//! Tests of the diff engine: pure golden tests on hand-built models (exact SQL, quoting,
//! ordering, hazards), and a round trip against a real server (TEST_DATABASE_URL) that
//! applies each diff and compares the inspected result with the target's dump.

use super::*;
use crate::catalog::{CompositeType, Domain, RangeType, Schema, SchemaDef};

fn col(name: &str, data_type: &str) -> Column {
    Column {
        name: name.to_string(),
        data_type: data_type.to_string(),
        collation: None,
        not_null: false,
        not_null_constraint: None,
        default: None,
        identity: None,
        generated: None,
        generated_virtual: false,
        comment: None,
        acl: Vec::new(),
        statistics: None,
        storage: None,
    }
}

fn table(schema: &str, name: &str, columns: Vec<Column>) -> Table {
    Table {
        name: QualifiedName::new(schema, name),
        unlogged: false,
        partition_key: None,
        partition_of: None,
        inherits: Vec::new(),
        access_method: None,
        options: Vec::new(),
        row_security: false,
        force_row_security: false,
        replica_identity: None,
        cluster_on: None,
        columns,
        constraints: Vec::new(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

fn constraint(name: &str, kind: ConstraintKind, definition: &str) -> Constraint {
    Constraint {
        name: name.to_string(),
        kind,
        definition: definition.to_string(),
        deferrable: false,
        initially_deferred: false,
        validated: true,
        comment: None,
    }
}

fn view(schema: &str, name: &str, definition: &str) -> View {
    View {
        name: QualifiedName::new(schema, name),
        definition: definition.to_string(),
        options: Vec::new(),
        columns: Vec::new(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

fn enum_type(schema: &str, name: &str, labels: &[&str]) -> EnumType {
    EnumType {
        name: QualifiedName::new(schema, name),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

fn with_tables(tables: Vec<Table>) -> Schema {
    Schema {
        tables,
        ..Schema::default()
    }
}

/// The statements from `from` to `to`, without the `check_function_bodies` wrapper that
/// SQL functions bring (tested on its own in `sql_function_bodies_are_not_checked`).
fn sql(from: &Schema, to: &Schema) -> Vec<String> {
    let wrapper = |s: &str| s.contains("check_function_bodies") || s.starts_with("-- SQL");
    render(&diff(from, to))
        .into_iter()
        .map(|s| s.sql)
        .filter(|s| !wrapper(s))
        .collect()
}

fn seq_options(data_type: &str) -> SequenceOptions {
    SequenceOptions {
        data_type: data_type.to_string(),
        start: 1,
        increment: 1,
        min: 1,
        max: if data_type == "integer" {
            i32::MAX as i64
        } else {
            i64::MAX
        },
        cache: 1,
        cycle: false,
    }
}

#[test]
fn equal_schemas_have_no_changes() {
    let mut t = table(
        "public",
        "users",
        vec![col("id", "integer"), col("name", "text")],
    );
    t.constraints.push(constraint(
        "users_pkey",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (id)",
    ));
    let s = Schema {
        schemas: vec![SchemaDef {
            name: "app".to_string(),
            comment: Some("c".to_string()),
            owner: None,
            acl: Vec::new(),
        }],
        enums: vec![enum_type("app", "mood", &["a", "b"])],
        views: vec![view(
            "public",
            "v",
            " SELECT users.id\n   FROM public.users",
        )],
        tables: vec![t],
        ..Schema::default()
    };
    assert_eq!(diff(&s, &s), Vec::new());
    assert_eq!(diff(&Schema::default(), &Schema::default()), Vec::new());
}

#[test]
fn creates_and_drops_a_table() {
    let mut id = col("id", "bigint");
    id.not_null = true;
    id.identity = Some(Identity {
        always: true,
        sequence: QualifiedName::new("public", "users_id_seq"),
        options: seq_options("bigint"),
    });
    let mut name = col("name", "character varying(20)");
    name.default = Some("'x'::character varying".to_string());
    let mut t = table("public", "users", vec![id, name]);
    t.constraints.push(constraint(
        "users_pkey",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (id)",
    ));
    let to = with_tables(vec![t]);
    assert_eq!(
        sql(&Schema::default(), &to),
        vec![
            "CREATE TABLE public.users (\n    \
             id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,\n    \
             name character varying(20) DEFAULT 'x'::character varying,\n    \
             CONSTRAINT users_pkey PRIMARY KEY (id)\n)"
        ]
    );
    let back = render(&diff(&to, &Schema::default()));
    assert_eq!(back.len(), 1);
    // sea-query renders DROP TABLE and quotes every identifier.
    assert_eq!(back[0].sql, r#"DROP TABLE "public"."users""#);
    assert_eq!(back[0].hazards[0].kind, HazardKind::DataLoss);
}

#[test]
fn identifiers_are_quoted_everywhere() {
    let from = with_tables(vec![table(
        "Mixed Schema",
        "user",
        vec![
            col("select", "integer"),
            col("Straße", "text"),
            col("a\"b", "text"),
        ],
    )]);
    let mut t = table("Mixed Schema", "user", vec![col("select", "bigint")]);
    t.columns.push(col("New Col", "text"));
    t.constraints.push(constraint(
        "My PK",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (\"select\")",
    ));
    let to = with_tables(vec![t]);
    assert_eq!(
        sql(&from, &to),
        vec![
            r#"ALTER TABLE "Mixed Schema"."user" DROP COLUMN "Straße""#,
            r#"ALTER TABLE "Mixed Schema"."user" DROP COLUMN "a""b""#,
            r#"ALTER TABLE "Mixed Schema"."user" ADD COLUMN "New Col" text"#,
            r#"ALTER TABLE "Mixed Schema"."user" ALTER COLUMN "select" TYPE bigint USING "select"::bigint"#,
            r#"ALTER TABLE "Mixed Schema"."user" ADD CONSTRAINT "My PK" PRIMARY KEY ("select")"#,
        ]
    );
    let back = sql(&to, &from);
    assert!(
        back.contains(&r#"ALTER TABLE "Mixed Schema"."user" DROP CONSTRAINT "My PK""#.to_string())
    );
    assert!(
        back.contains(&r#"ALTER TABLE "Mixed Schema"."user" ADD COLUMN "a""b" text"#.to_string())
    );
}

#[test]
fn column_alterations() {
    let mut a = col("a", "character varying(10)");
    a.default = Some("'x'::character varying".to_string());
    let b = col("b", "integer");
    let mut c = col("c", "numeric(10,2)");
    c.not_null = true;
    let from = with_tables(vec![table("public", "t", vec![a, b, c])]);
    let mut a2 = col("a", "text");
    a2.default = Some("'y'::text".to_string());
    let mut b2 = col("b", "integer");
    b2.not_null = true;
    b2.default = Some("0".to_string());
    let c2 = col("c", "numeric(5,2)");
    let to = with_tables(vec![table("public", "t", vec![a2, b2, c2])]);
    let statements = render(&diff(&from, &to));
    let text: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(
        text,
        vec![
            "ALTER TABLE public.t ALTER COLUMN a DROP DEFAULT",
            "ALTER TABLE public.t ALTER COLUMN a TYPE text",
            "ALTER TABLE public.t ALTER COLUMN a SET DEFAULT 'y'::text",
            "ALTER TABLE public.t ALTER COLUMN b SET DEFAULT 0",
            "ALTER TABLE public.t ALTER COLUMN b SET NOT NULL",
            "ALTER TABLE public.t ALTER COLUMN c TYPE numeric(5,2) USING c::numeric(5,2)",
            "ALTER TABLE public.t ALTER COLUMN c DROP NOT NULL",
        ]
    );
    // Widening varchar to text is safe; narrowing numeric is flagged.
    assert!(statements[1].hazards.is_empty());
    assert_eq!(statements[5].hazards[0].kind, HazardKind::DataLoss);
    assert_eq!(
        to_script(&statements[5..6]),
        "-- WARNING: changes public.t.c from numeric(10,2) to numeric(5,2): values that do \
         not fit fail the cast or lose precision\n\
         ALTER TABLE public.t ALTER COLUMN c TYPE numeric(5,2) USING c::numeric(5,2);\n"
    );
}

#[test]
fn identity_added_changed_and_dropped() {
    let from = with_tables(vec![table("public", "t", vec![col("id", "integer")])]);
    let mut id = col("id", "integer");
    id.not_null = true;
    let mut options = seq_options("integer");
    id.identity = Some(Identity {
        always: false,
        sequence: QualifiedName::new("public", "t_id_seq"),
        options: options.clone(),
    });
    let to = with_tables(vec![table("public", "t", vec![id.clone()])]);
    assert_eq!(
        sql(&from, &to),
        vec![
            "ALTER TABLE public.t ALTER COLUMN id SET NOT NULL",
            "ALTER TABLE public.t ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY",
        ]
    );
    assert_eq!(
        sql(&to, &from),
        vec![
            "ALTER TABLE public.t ALTER COLUMN id DROP IDENTITY",
            "ALTER TABLE public.t ALTER COLUMN id DROP NOT NULL",
        ]
    );
    options.increment = 5;
    let mut id2 = id;
    id2.identity = Some(Identity {
        always: true,
        sequence: QualifiedName::new("public", "t_id_seq"),
        options,
    });
    let to2 = with_tables(vec![table("public", "t", vec![id2])]);
    assert_eq!(
        sql(&to, &to2),
        vec![
            "ALTER TABLE public.t ALTER COLUMN id SET GENERATED ALWAYS",
            "ALTER TABLE public.t ALTER COLUMN id SET INCREMENT BY 5",
        ]
    );
}

#[test]
fn foreign_keys_come_after_both_tables_and_go_before_them() {
    let mut users = table("public", "users", vec![col("id", "integer")]);
    users.constraints.push(constraint(
        "users_pkey",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (id)",
    ));
    // "accounts" sorts before "users" but references it.
    let mut accounts = table("public", "accounts", vec![col("user_id", "integer")]);
    accounts.constraints.push(constraint(
        "accounts_user_fkey",
        ConstraintKind::ForeignKey,
        "FOREIGN KEY (user_id) REFERENCES public.users(id)",
    ));
    let to = with_tables(vec![accounts, users]);
    let up = sql(&Schema::default(), &to);
    assert_eq!(up.len(), 3);
    assert!(up[0].starts_with("CREATE TABLE public.accounts"));
    assert!(!up[0].contains("FOREIGN KEY"));
    assert!(up[1].starts_with("CREATE TABLE public.users"));
    assert_eq!(
        up[2],
        "ALTER TABLE public.accounts ADD CONSTRAINT accounts_user_fkey \
         FOREIGN KEY (user_id) REFERENCES public.users(id)"
    );
    let down = sql(&to, &Schema::default());
    assert_eq!(
        down,
        vec![
            "ALTER TABLE public.accounts DROP CONSTRAINT accounts_user_fkey",
            r#"DROP TABLE "public"."users""#,
            r#"DROP TABLE "public"."accounts""#,
        ]
    );
}

#[test]
fn changed_constraint_is_dropped_and_added() {
    let mut a = table("public", "t", vec![col("n", "integer")]);
    a.constraints.push(constraint(
        "n_positive",
        ConstraintKind::Check,
        "CHECK ((n > 0))",
    ));
    let mut b = a.clone();
    b.constraints[0].definition = "CHECK ((n > 1))".to_string();
    assert_eq!(
        sql(&with_tables(vec![a]), &with_tables(vec![b])),
        vec![
            "ALTER TABLE public.t DROP CONSTRAINT n_positive",
            "ALTER TABLE public.t ADD CONSTRAINT n_positive CHECK ((n > 1))",
        ]
    );
}

#[test]
fn views_are_recreated_around_a_column_type_change() {
    let t1 = table("public", "users", vec![col("id", "integer")]);
    let t2 = table("public", "users", vec![col("id", "bigint")]);
    let v = view(
        "public",
        "user_ids",
        " SELECT users.id\n   FROM public.users",
    );
    // A view reading the view must go too, and come back after it.
    let w = view(
        "public",
        "all_ids",
        " SELECT user_ids.id\n   FROM public.user_ids",
    );
    let unrelated = view("public", "other", " SELECT 1 AS one");
    let from = Schema {
        tables: vec![t1],
        views: vec![w.clone(), unrelated.clone(), v.clone()],
        ..Schema::default()
    };
    let to = Schema {
        tables: vec![t2],
        views: vec![w, unrelated, v],
        ..Schema::default()
    };
    assert_eq!(
        sql(&from, &to),
        vec![
            "DROP VIEW public.all_ids",
            "DROP VIEW public.user_ids",
            "ALTER TABLE public.users ALTER COLUMN id TYPE bigint USING id::bigint",
            "CREATE VIEW public.user_ids AS\n SELECT users.id\n   FROM public.users",
            "CREATE VIEW public.all_ids AS\n SELECT user_ids.id\n   FROM public.user_ids",
        ]
    );
}

#[test]
fn enum_values_are_added_in_place() {
    let from = Schema {
        enums: vec![enum_type("public", "mood", &["ok", "happy"])],
        ..Schema::default()
    };
    let to = Schema {
        enums: vec![enum_type(
            "public",
            "mood",
            &["sad", "meh", "ok", "happy", "joy"],
        )],
        ..Schema::default()
    };
    let statements = render(&diff(&from, &to));
    let text: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(
        text,
        vec![
            "ALTER TYPE public.mood ADD VALUE 'sad' BEFORE 'ok'",
            "ALTER TYPE public.mood ADD VALUE 'meh' AFTER 'sad'",
            "ALTER TYPE public.mood ADD VALUE 'joy' AFTER 'happy'",
        ]
    );
    assert_eq!(
        statements[0].hazards[0].kind,
        HazardKind::EnumValueInTransaction
    );
    assert_eq!(
        sql(&Schema::default(), &from),
        vec!["CREATE TYPE public.mood AS ENUM ('ok', 'happy')"]
    );
}

#[test]
fn enum_with_removed_label_is_recreated() {
    let mut m = col("m", "public.mood");
    m.default = Some("'ok'::public.mood".to_string());
    let t = table("public", "t", vec![m, col("ms", "public.mood[]")]);
    let from = Schema {
        enums: vec![enum_type("public", "mood", &["ok", "bad"])],
        tables: vec![t.clone()],
        ..Schema::default()
    };
    let to = Schema {
        enums: vec![enum_type("public", "mood", &["ok"])],
        tables: vec![t],
        ..Schema::default()
    };
    let statements = render(&diff(&from, &to));
    let text: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    assert_eq!(
        text,
        vec![
            "ALTER TYPE public.mood RENAME TO mood__retort_old",
            "CREATE TYPE public.mood AS ENUM ('ok')",
            "ALTER TABLE public.t ALTER COLUMN m DROP DEFAULT",
            "ALTER TABLE public.t ALTER COLUMN m TYPE public.mood USING m::text::public.mood",
            "ALTER TABLE public.t ALTER COLUMN m SET DEFAULT 'ok'::public.mood",
            "ALTER TABLE public.t ALTER COLUMN ms TYPE public.mood[] \
             USING ms::text[]::public.mood[]",
            "DROP TYPE public.mood__retort_old",
        ]
    );
    assert_eq!(statements[3].hazards[0].kind, HazardKind::CastMayFail);
}

#[test]
fn types_over_a_recreated_enum_follow_it_unless_they_have_functions() {
    let domain = Domain {
        name: QualifiedName::new("public", "mood_d"),
        base_type: "public.mood".to_string(),
        collation: None,
        default: None,
        not_null: false,
        checks: Vec::new(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    };
    let composite = CompositeType {
        name: QualifiedName::new("public", "pair"),
        attributes: vec![col("m", "public.mood[]"), col("n", "integer")],
        comment: None,
        owner: None,
        acl: Vec::new(),
    };
    let range = RangeType {
        name: QualifiedName::new("public", "mood_range"),
        subtype: "public.mood".to_string(),
        subtype_opclass: None,
        collation: None,
        canonical: None,
        subtype_diff: None,
        comment: None,
        owner: None,
        acl: Vec::new(),
    };
    // A range with a subtype_diff function: the function takes the old enum.
    let with_diff = RangeType {
        name: QualifiedName::new("public", "mood_span"),
        subtype_diff: Some("public.mood_diff".to_string()),
        ..range.clone()
    };
    let from = Schema {
        enums: vec![enum_type("public", "mood", &["ok", "bad"])],
        domains: vec![domain],
        composites: vec![composite],
        ranges: vec![range, with_diff],
        tables: vec![table("public", "t", vec![col("p", "public.pair")])],
        ..Schema::default()
    };
    let to = Schema {
        enums: vec![enum_type("public", "mood", &["ok"])],
        ..from.clone()
    };
    let statements = render(&diff(&from, &to));
    let text: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
    let at = |sql: &str| {
        text.iter()
            .position(|s| s.starts_with(sql))
            .unwrap_or_else(|| panic!("{sql} missing from {text:#?}"))
    };
    let renamed = at("ALTER TYPE public.mood RENAME TO mood__retort_old");
    for (rename, create, retype, drop) in [
        (
            "ALTER DOMAIN public.mood_d RENAME TO mood_d__retort_old",
            "CREATE DOMAIN public.mood_d AS public.mood",
            None,
            "DROP DOMAIN public.mood_d__retort_old",
        ),
        (
            "ALTER TYPE public.pair RENAME TO pair__retort_old",
            "CREATE TYPE public.pair AS (",
            Some("ALTER TABLE public.t ALTER COLUMN p TYPE public.pair USING p::text::public.pair"),
            "DROP TYPE public.pair__retort_old",
        ),
        (
            "ALTER TYPE public.mood_range RENAME TO mood_range__retort_old",
            "CREATE TYPE public.mood_range AS RANGE (",
            None,
            "DROP TYPE public.mood_range__retort_old",
        ),
    ] {
        assert!(renamed < at(rename) && at(rename) < at(create), "{text:#?}");
        if let Some(retype) = retype {
            assert!(at(create) < at(retype), "{text:#?}");
        }
        assert!(
            at(drop) < at("DROP TYPE public.mood__retort_old"),
            "{text:#?}"
        );
    }
    // The range's multirange and its constructor without arguments move aside before
    // the new range is created; the range with a function of its own is reported.
    let multirange = at("ALTER TYPE public.mood_multirange RENAME TO mood_multirange__retort_old");
    let constructor =
        at("ALTER FUNCTION public.mood_multirange() RENAME TO mood_multirange__retort_old");
    let created = at("CREATE TYPE public.mood_range AS RANGE (");
    assert!(multirange < created && constructor < created, "{text:#?}");
    let unsupported: Vec<&str> = statements
        .iter()
        .filter(|s| s.hazards.iter().any(|h| h.kind == HazardKind::Unsupported))
        .map(|s| s.sql.as_str())
        .collect();
    assert_eq!(unsupported.len(), 1, "{statements:#?}");
    assert!(unsupported[0].contains("range type public.mood_span: it is built on enum public.mood"));
    // Adding a label needs no recreation, so nothing is reported or recreated.
    let grown = Schema {
        enums: vec![enum_type("public", "mood", &["ok", "bad", "meh"])],
        ..from.clone()
    };
    let statements = render(&diff(&from, &grown));
    assert_eq!(statements.len(), 1, "{statements:#?}");
}

#[test]
fn schemas_extensions_sequences_indexes_and_comments() {
    let mut t = table("app", "t", vec![col("id", "integer")]);
    t.comment = Some("it's a table".to_string());
    t.columns[0].comment = Some("the id".to_string());
    let to = Schema {
        schemas: vec![SchemaDef {
            name: "app".to_string(),
            comment: None,
            owner: None,
            acl: Vec::new(),
        }],
        extensions: vec![Extension {
            name: "pg_trgm".to_string(),
            version: "1.6".to_string(),
            schema: "public".to_string(),
            comment: None,
        }],
        sequences: vec![Sequence {
            name: QualifiedName::new("app", "counter"),
            options: seq_options("bigint"),
            owned_by: Some((QualifiedName::new("app", "t"), "id".to_string())),
            comment: None,
            owner: None,
            acl: Vec::new(),
        }],
        indexes: vec![Index {
            name: QualifiedName::new("app", "t_id_idx"),
            table: QualifiedName::new("app", "t"),
            method: "btree".to_string(),
            unique: false,
            predicate: None,
            definition: "CREATE INDEX t_id_idx ON app.t USING btree (id)".to_string(),
            comment: None,
        }],
        tables: vec![t],
        ..Schema::default()
    };
    assert_eq!(
        sql(&Schema::default(), &to),
        vec![
            "CREATE SCHEMA app",
            "CREATE EXTENSION pg_trgm WITH SCHEMA public VERSION '1.6'",
            "CREATE SEQUENCE app.counter AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 \
             MAXVALUE 9223372036854775807 CACHE 1 NO CYCLE",
            "CREATE TABLE app.t (\n    id integer\n)",
            "CREATE INDEX t_id_idx ON app.t USING btree (id)",
            "ALTER SEQUENCE app.counter OWNED BY app.t.id",
            "COMMENT ON TABLE app.t IS 'it''s a table'",
            "COMMENT ON COLUMN app.t.id IS 'the id'",
        ]
    );
    // Down: the sequence goes with its owning table, the index with its table.
    assert_eq!(
        sql(&to, &Schema::default()),
        vec![
            r#"DROP TABLE "app"."t""#,
            "DROP EXTENSION pg_trgm",
            "DROP SCHEMA app",
        ]
    );
    let mut uncommented = to.clone();
    uncommented.tables[0].comment = None;
    assert_eq!(
        sql(&to, &uncommented),
        vec!["COMMENT ON TABLE app.t IS NULL"]
    );
}

fn index(schema: &str, name: &str, table: &str, definition: &str) -> Index {
    Index {
        name: QualifiedName::new(schema, name),
        table: QualifiedName::new(schema, table),
        method: "btree".to_string(),
        unique: false,
        predicate: None,
        definition: definition.to_string(),
        comment: None,
    }
}

fn function(name: &str, definition: &str) -> Function {
    Function {
        name: QualifiedName::new("public", name),
        arguments: "a integer".to_string(),
        kind: FunctionKind::Function,
        definition: definition.to_string(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

/// Found by the property test: an index of a dropped table went with the table (at the
/// end), after an index of the same name had been created on another table.
#[test]
fn index_name_taken_from_a_dropped_table_is_freed_first() {
    let old = table("public", "old", vec![col("a", "integer")]);
    let new = table("public", "new", vec![col("b", "integer")]);
    let from = Schema {
        indexes: vec![index(
            "public",
            "i",
            "old",
            "CREATE INDEX i ON public.old USING btree (a)",
        )],
        ..with_tables(vec![old])
    };
    let to = Schema {
        indexes: vec![index(
            "public",
            "i",
            "new",
            "CREATE INDEX i ON public.new USING btree (b)",
        )],
        ..with_tables(vec![new])
    };
    assert_eq!(
        sql(&from, &to),
        vec![
            "DROP INDEX public.i",
            "CREATE TABLE public.new (\n    b integer\n)",
            "CREATE INDEX i ON public.new USING btree (b)",
            r#"DROP TABLE "public"."old""#,
        ]
    );
}

/// Found by the property test: the same, for the index of a key constraint.
#[test]
fn key_name_taken_from_a_dropped_table_is_freed_first() {
    let mut old = table("public", "old", vec![col("a", "integer")]);
    old.constraints.push(constraint(
        "k",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (a)",
    ));
    let mut new = table("public", "new", vec![col("b", "integer")]);
    new.constraints.push(constraint(
        "k",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (b)",
    ));
    assert_eq!(
        sql(&with_tables(vec![old]), &with_tables(vec![new])),
        vec![
            "ALTER TABLE public.old DROP CONSTRAINT k",
            "CREATE TABLE public.new (\n    b integer,\n    CONSTRAINT k PRIMARY KEY (b)\n)",
            r#"DROP TABLE "public"."old""#,
        ]
    );
}

/// Found by the property test: a foreign key depends on the key it was created against;
/// dropping that key (even with another unique key left on the columns) fails.
#[test]
fn foreign_keys_are_recreated_when_the_referenced_key_changes() {
    let mut users = table("public", "users", vec![col("id", "integer")]);
    users.constraints.push(constraint(
        "pk",
        ConstraintKind::PrimaryKey,
        "PRIMARY KEY (id)",
    ));
    let mut orders = table("public", "orders", vec![col("user_id", "integer")]);
    orders.constraints.push(constraint(
        "fk",
        ConstraintKind::ForeignKey,
        "FOREIGN KEY (user_id) REFERENCES public.users(id)",
    ));
    let from = with_tables(vec![orders.clone(), users.clone()]);
    users.constraints = vec![constraint("uq", ConstraintKind::Unique, "UNIQUE (id)")];
    let to = with_tables(vec![orders, users]);
    assert_eq!(
        sql(&from, &to),
        vec![
            "ALTER TABLE public.orders DROP CONSTRAINT fk",
            "ALTER TABLE public.users DROP CONSTRAINT pk",
            "ALTER TABLE public.users ADD CONSTRAINT uq UNIQUE (id)",
            "ALTER TABLE public.orders ADD CONSTRAINT fk \
             FOREIGN KEY (user_id) REFERENCES public.users(id)",
        ]
    );
}

/// Found by the property test: `CREATE OR REPLACE` cannot change a return type.
#[test]
fn function_with_a_new_return_type_is_dropped_and_created() {
    let body = "\n LANGUAGE sql\nAS $function$ SELECT a $function$";
    let old = function(
        "f",
        &format!("CREATE OR REPLACE FUNCTION public.f(a integer)\n RETURNS integer{body}"),
    );
    let mut new = old.clone();
    new.definition =
        format!("CREATE OR REPLACE FUNCTION public.f(a integer)\n RETURNS bigint{body}");
    let from = Schema {
        functions: vec![old.clone()],
        ..Schema::default()
    };
    let to = Schema {
        functions: vec![new.clone()],
        ..Schema::default()
    };
    assert_eq!(
        sql(&from, &to),
        vec!["DROP FUNCTION public.f(a integer)", new.definition.as_str()]
    );
    // A changed body alone is still replaced in place.
    let mut body_only = old.clone();
    body_only.definition = old.definition.replace("SELECT a", "SELECT a + 1");
    let to = Schema {
        functions: vec![body_only.clone()],
        ..Schema::default()
    };
    assert_eq!(sql(&from, &to), vec![body_only.definition.as_str()]);
}

/// Found by the property test: a sequence owned by a dropped column but used by another
/// column's default cannot go with its owner (the default still depends on it).
#[test]
fn owned_sequence_used_elsewhere_is_disowned_and_dropped_last() {
    let owner = table("public", "owner", vec![col("id", "bigint")]);
    let mut user = table("public", "user", vec![col("n", "bigint")]);
    user.columns[0].default = Some("nextval('public.s'::regclass)".to_string());
    let from = Schema {
        sequences: vec![Sequence {
            name: QualifiedName::new("public", "s"),
            options: seq_options("bigint"),
            owned_by: Some((QualifiedName::new("public", "owner"), "id".to_string())),
            comment: None,
            owner: None,
            acl: Vec::new(),
        }],
        ..with_tables(vec![owner, user])
    };
    assert_eq!(
        sql(&from, &Schema::default()),
        vec![
            "ALTER SEQUENCE public.s OWNED BY NONE",
            r#"DROP TABLE "public"."user""#,
            r#"DROP TABLE "public"."owner""#,
            "DROP SEQUENCE public.s",
        ]
    );
}

fn sequence(name: &str, owned_by: Option<(&str, &str)>) -> Sequence {
    Sequence {
        name: QualifiedName::new("public", name),
        options: seq_options("bigint"),
        owned_by: owned_by.map(|(t, c)| (QualifiedName::new("public", t), c.to_string())),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

/// Moving `OWNED BY` off a dropped column must happen before the drop (which would take
/// the sequence along); in one step when the new owner exists already, else in two.
#[test]
fn sequence_owner_moves_off_a_dropped_column_first() {
    let t = table(
        "public",
        "t",
        vec![col("old", "bigint"), col("kept", "bigint")],
    );
    let from = Schema {
        sequences: vec![sequence("s", Some(("t", "old")))],
        ..with_tables(vec![t])
    };
    let to = Schema {
        sequences: vec![sequence("s", Some(("t", "kept")))],
        ..with_tables(vec![table("public", "t", vec![col("kept", "bigint")])])
    };
    assert_eq!(
        sql(&from, &to),
        vec![
            "ALTER SEQUENCE public.s OWNED BY public.t.kept",
            r#"ALTER TABLE "public"."t" DROP COLUMN "old""#,
        ]
    );
    // The new owner column is added by the same migration.
    let to = Schema {
        sequences: vec![sequence("s", Some(("t", "new")))],
        ..with_tables(vec![table("public", "t", vec![col("new", "bigint")])])
    };
    assert_eq!(
        sql(&from, &to),
        vec![
            "ALTER SEQUENCE public.s OWNED BY NONE",
            r#"ALTER TABLE "public"."t" DROP COLUMN "old""#,
            r#"ALTER TABLE "public"."t" DROP COLUMN "kept""#,
            "ALTER TABLE public.t ADD COLUMN new bigint",
            "ALTER SEQUENCE public.s OWNED BY public.t.new",
        ]
    );
}

/// A function dropped and created again (new return type): the defaults, checks and
/// indexes calling it go before the DROP FUNCTION and come back after the CREATE.
#[test]
fn dependents_of_a_replaced_function_are_dropped_first() {
    let body = "\n LANGUAGE sql\nAS $function$ SELECT a $function$";
    let old = function(
        "f",
        &format!("CREATE OR REPLACE FUNCTION public.f(a integer)\n RETURNS integer{body}"),
    );
    let mut new = old.clone();
    new.definition =
        format!("CREATE OR REPLACE FUNCTION public.f(a integer)\n RETURNS bigint{body}");
    let mut c = col("c", "integer");
    c.default = Some("public.f(1)".to_string());
    let mut t = table("public", "t", vec![c]);
    t.constraints.push(constraint(
        "positive",
        ConstraintKind::Check,
        "CHECK ((public.f(c) > 0))",
    ));
    let i = index(
        "public",
        "t_f",
        "t",
        "CREATE INDEX t_f ON public.t USING btree (public.f(c))",
    );
    let from = Schema {
        functions: vec![old],
        indexes: vec![i.clone()],
        ..with_tables(vec![t.clone()])
    };
    let to = Schema {
        functions: vec![new.clone()],
        indexes: vec![i],
        ..with_tables(vec![t])
    };
    assert_eq!(
        sql(&from, &to),
        vec![
            "ALTER TABLE public.t DROP CONSTRAINT positive",
            "DROP INDEX public.t_f",
            "ALTER TABLE public.t ALTER COLUMN c DROP DEFAULT",
            "DROP FUNCTION public.f(a integer)",
            new.definition.as_str(),
            "ALTER TABLE public.t ALTER COLUMN c SET DEFAULT public.f(1)",
            "ALTER TABLE public.t ADD CONSTRAINT positive CHECK ((public.f(c) > 0))",
            "CREATE INDEX t_f ON public.t USING btree (public.f(c))",
        ]
    );
}

/// Recreating an enum renames the old type: indexes and checks naming it, and functions
/// taking it, would follow the rename, so they are dropped before and created after.
#[test]
fn objects_naming_a_recreated_enum_are_dropped_before_the_rename() {
    let mut t = table("public", "t", vec![col("m", "public.mood")]);
    t.constraints.push(constraint(
        "not_bad",
        ConstraintKind::Check,
        "CHECK ((m <> 'bad'::public.mood))",
    ));
    let i = index(
        "public",
        "t_ok",
        "t",
        "CREATE INDEX t_ok ON public.t USING btree (m) WHERE (m = 'ok'::public.mood)",
    );
    let mut f = function(
        "is_ok",
        "CREATE OR REPLACE FUNCTION public.is_ok(m public.mood)\n RETURNS boolean\n \
         LANGUAGE sql\nAS $function$ SELECT m = 'ok' $function$",
    );
    f.arguments = "m public.mood".to_string();
    let from = Schema {
        enums: vec![enum_type("public", "mood", &["ok", "bad", "meh"])],
        functions: vec![f.clone()],
        indexes: vec![i.clone()],
        ..with_tables(vec![t.clone()])
    };
    let to = Schema {
        enums: vec![enum_type("public", "mood", &["ok", "bad"])],
        functions: vec![f.clone()],
        indexes: vec![i],
        ..with_tables(vec![t])
    };
    assert_eq!(
        sql(&from, &to),
        vec![
            "ALTER TABLE public.t DROP CONSTRAINT not_bad",
            "DROP INDEX public.t_ok",
            "DROP FUNCTION public.is_ok(m public.mood)",
            "ALTER TYPE public.mood RENAME TO mood__retort_old",
            "CREATE TYPE public.mood AS ENUM ('ok', 'bad')",
            "ALTER TABLE public.t ALTER COLUMN m TYPE public.mood USING m::text::public.mood",
            f.definition.as_str(),
            "ALTER TABLE public.t ADD CONSTRAINT not_bad CHECK ((m <> 'bad'::public.mood))",
            "CREATE INDEX t_ok ON public.t USING btree (m) WHERE (m = 'ok'::public.mood)",
            "DROP TYPE public.mood__retort_old",
        ]
    );
}

#[test]
fn not_null_column_without_default_and_new_identity_warn() {
    let from = with_tables(vec![table("public", "t", vec![col("a", "integer")])]);
    let mut a = col("a", "integer");
    a.not_null = true;
    a.identity = Some(Identity {
        always: true,
        sequence: QualifiedName::new("public", "t_a_seq"),
        options: seq_options("integer"),
    });
    let mut b = col("b", "text");
    b.not_null = true;
    let mut c = col("c", "text");
    c.not_null = true;
    c.default = Some("''::text".to_string());
    let to = with_tables(vec![table("public", "t", vec![a, b, c])]);
    let statements = render(&diff(&from, &to));
    let kinds: Vec<(&str, Vec<HazardKind>)> = statements
        .iter()
        .map(|s| (s.sql.as_str(), s.hazards.iter().map(|h| h.kind).collect()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "ALTER TABLE public.t ADD COLUMN b text NOT NULL",
                vec![HazardKind::CastMayFail]
            ),
            (
                "ALTER TABLE public.t ADD COLUMN c text DEFAULT ''::text NOT NULL",
                vec![]
            ),
            (
                "ALTER TABLE public.t ALTER COLUMN a SET NOT NULL",
                vec![HazardKind::CastMayFail]
            ),
            (
                "ALTER TABLE public.t ALTER COLUMN a ADD GENERATED ALWAYS AS IDENTITY",
                vec![HazardKind::IdentityBehindRows]
            ),
        ]
    );
}

#[test]
fn unsupported_differences_are_reported_not_dropped() {
    let a = table("public", "t", vec![col("id", "integer")]);
    let mut b = a.clone();
    // A partition key cannot be changed in place.
    b.partition_key = Some("RANGE (id)".to_string());
    let statements = render(&diff(&with_tables(vec![a]), &with_tables(vec![b])));
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].hazards[0].kind, HazardKind::Unsupported);
    assert!(statements[0]
        .sql
        .starts_with("-- retort: not generated: table public.t"));
}

// ---------------------------------------------------------------------------
// Round trip against a real server
// ---------------------------------------------------------------------------

/// Schema pairs (from, to) as DDL; every supported kind appears in at least one.
const PAIRS: &[(&str, &str, &str)] = &[
    (
        "tables_columns_constraints",
        "CREATE TABLE users (id integer PRIMARY KEY, name varchar(10) DEFAULT 'x', n numeric(10,2) NOT NULL, gone text);
         CREATE TABLE \"Order Items\" (\"select\" integer, user_id integer REFERENCES users(id), CHECK (\"select\" > 0));
         CREATE TABLE old_table (a int);",
        "CREATE TABLE users (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text DEFAULT 'y', n numeric(12,2), email text NOT NULL DEFAULT '');
         CREATE TABLE \"Order Items\" (\"select\" integer, user_id bigint, \"Straße\" text, CHECK (\"select\" > 1), UNIQUE (\"select\"));
         CREATE TABLE accounts (id serial PRIMARY KEY, user_id bigint REFERENCES users(id));
         ALTER TABLE \"Order Items\" ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users(id);",
    ),
    (
        "schemas_enums_sequences_indexes_comments",
        "CREATE SCHEMA app; CREATE TYPE app.mood AS ENUM ('ok', 'bad');
         CREATE TYPE app.level AS ENUM ('low', 'high');
         CREATE SEQUENCE app.counter;
         CREATE TABLE app.t (id int, m app.mood DEFAULT 'ok', ms app.mood[], l app.level);
         CREATE INDEX t_id_idx ON app.t (id);
         COMMENT ON TABLE app.t IS 'old';",
        "CREATE SCHEMA app; CREATE SCHEMA \"Other\"; CREATE TYPE app.mood AS ENUM ('ok', 'meh');
         CREATE TYPE app.level AS ENUM ('none', 'low', 'mid', 'high');
         CREATE SEQUENCE app.counter INCREMENT BY 2 MAXVALUE 1000;
         CREATE SEQUENCE \"Other\".s;
         CREATE TABLE app.t (id int, m app.mood DEFAULT 'ok', ms app.mood[], l app.level);
         CREATE UNIQUE INDEX t_id_idx ON app.t (id);
         CREATE INDEX t_m_idx ON app.t (m);
         COMMENT ON TABLE app.t IS 'new'; COMMENT ON COLUMN app.t.id IS 'the id';
         COMMENT ON SCHEMA \"Other\" IS 'other';",
    ),
    (
        "views_functions_triggers_policies",
        "CREATE TABLE t (id int, v int);
         CREATE VIEW v1 AS SELECT id, v FROM t;
         CREATE VIEW v2 AS SELECT id FROM v1;
         CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
         CREATE FUNCTION g(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1';
         CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
         CREATE POLICY p ON t USING (id > 0);",
        "CREATE TABLE t (id bigint, v int);
         ALTER TABLE t ENABLE ROW LEVEL SECURITY;
         CREATE VIEW v1 AS SELECT id, v FROM t;
         CREATE VIEW v2 AS SELECT id FROM v1 WHERE id > 0;
         CREATE VIEW v3 AS SELECT v FROM t;
         CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.v := 1; RETURN NEW; END$$;
         CREATE FUNCTION h() RETURNS int LANGUAGE sql AS 'SELECT 2';
         CREATE TRIGGER tr BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
         CREATE POLICY p ON t USING (id > 1);
         CREATE POLICY \"Select Policy\" ON t FOR SELECT USING (true);
         COMMENT ON VIEW v3 IS 'three';",
    ),
];

async fn create_database(
    admin: &tokio_postgres::Client,
    info: &crate::db::ConnInfo,
    name: &str,
    ddl: &str,
) -> tokio_postgres::Client {
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .await
        .expect("create test database");
    let client = info
        .with_dbname(name)
        .connect("retort test")
        .await
        .expect("connect to test database");
    client.batch_execute(ddl).await.expect("load schema DDL");
    client
}

async fn inspect(client: &tokio_postgres::Client) -> Schema {
    crate::catalog::inspect(client, &crate::catalog::InspectOptions::default())
        .await
        .expect("inspect")
}

/// Applies `diff(from, to)` statement by statement (autocommit: a label added by ADD VALUE
/// is usable by the next statement) and returns the script for failure messages.
async fn apply(client: &tokio_postgres::Client, from: &Schema, to: &Schema, case: &str) -> String {
    let statements = render(&diff(from, to));
    let script = to_script(&statements);
    for statement in &statements {
        assert!(
            statement
                .hazards
                .iter()
                .all(|h| h.kind != HazardKind::Unsupported),
            "{case}: unsupported change in\n{script}"
        );
        if let Err(error) = client.batch_execute(&statement.sql).await {
            panic!(
                "{case}: {error:?} running\n{}\nin script\n{script}",
                statement.sql
            );
        }
    }
    script
}

async fn round_trip(url: &str) {
    let info = crate::db::ConnInfo::from_env(Some(url)).expect("parse TEST_DATABASE_URL");
    let admin = info
        .connect("retort test")
        .await
        .expect("connect to server");
    let pid = std::process::id();
    for (n, (case, from_sql, to_sql)) in PAIRS.iter().enumerate() {
        let a_name = format!("retort_diff_{pid}_{n}_a");
        let b_name = format!("retort_diff_{pid}_{n}_b");
        for name in [&a_name, &b_name] {
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await
                .expect("drop stale test database");
        }
        let a = create_database(&admin, &info, &a_name, from_sql).await;
        let b = create_database(&admin, &info, &b_name, to_sql).await;
        let s1 = inspect(&a).await;
        let s2 = inspect(&b).await;
        assert_ne!(s1.to_text(), s2.to_text(), "{case}: the pair should differ");

        // Up: a (holding S1) must become S2, and a second diff must be empty.
        let up = apply(&a, &s1, &s2, case).await;
        let after = inspect(&a).await;
        if let Some(d) = crate::catalog::diff_dumps(&s2.to_text(), &after.to_text(), "want", "got")
        {
            panic!("{case}: up did not reach the target\n{up}\n{d}");
        }
        assert_eq!(
            diff(&after, &s2),
            Vec::new(),
            "{case}: second diff not empty"
        );

        // Down: b (holding S2) must become S1.
        let down = apply(&b, &s2, &s1, case).await;
        let after = inspect(&b).await;
        if let Some(d) = crate::catalog::diff_dumps(&s1.to_text(), &after.to_text(), "want", "got")
        {
            panic!("{case}: down did not reach the source\n{down}\n{d}");
        }

        drop(a);
        drop(b);
        for name in [&a_name, &b_name] {
            admin
                .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await
                .expect("drop test database");
        }
    }
}

#[test]
fn round_trips_against_a_real_server() {
    let url = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL must name a PostgreSQL server for the diff round-trip test \
         (start one with scripts/pg-local.sh start)",
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
        .block_on(round_trip(&url));
}

#[test]
fn numeric_typmod_changes_are_classified() {
    let kind = |from: &str, to: &str| super::plan::type_change_kind(from, to);
    assert_eq!(kind("numeric(12,2)", "numeric(14,2)"), (false, false));
    assert_eq!(kind("numeric(12,2)", "numeric(14,4)"), (true, false));
    assert_eq!(kind("numeric(12,2)", "numeric(12,4)"), (true, true));
    assert_eq!(kind("numeric(14,2)", "numeric(12,2)"), (true, true));
    assert_eq!(kind("numeric(3,5)", "numeric(4,5)"), (false, false));
}

#[test]
fn add_value_runs_outside_a_transaction_when_the_label_is_used_or_the_server_is_old() {
    let add = Statement {
        sql: "ALTER TYPE public.role ADD VALUE 'owner' AFTER 'admin'".to_string(),
        hazards: vec![Hazard {
            kind: HazardKind::EnumValueInTransaction,
            message: String::new(),
        }],
    };
    let uses = Statement {
        sql: "ALTER TABLE public.users ALTER COLUMN role SET DEFAULT 'owner'::public.role"
            .to_string(),
        hazards: Vec::new(),
    };
    let other = Statement {
        sql: "ALTER TABLE public.users ADD COLUMN x text".to_string(),
        hazards: Vec::new(),
    };
    assert!(needs_autocommit(&[add.clone(), other.clone()], 150_000).is_none());
    assert!(needs_autocommit(&[add.clone(), uses], 150_000)
        .expect("used later")
        .contains("'owner'"));
    assert!(needs_autocommit(&[add, other.clone()], 110_000)
        .expect("old server")
        .contains("before PostgreSQL 12"));
    assert!(needs_autocommit(&[other], 110_000).is_none());
}

#[test]
fn sql_function_bodies_are_not_checked() {
    let sql_body = function(
        "f",
        "CREATE OR REPLACE FUNCTION public.f(a integer)\n RETURNS bigint\n LANGUAGE sql\n\
         AS $function$ SELECT count(*) FROM public.t $function$",
    );
    let to = Schema {
        functions: vec![sql_body],
        ..with_tables(vec![table("public", "t", vec![col("id", "integer")])])
    };
    let statements: Vec<String> = render(&diff(&Schema::default(), &to))
        .into_iter()
        .map(|s| s.sql)
        .collect();
    assert!(statements[0].starts_with("-- "), "{statements:?}");
    assert_eq!(statements[1], "SET check_function_bodies = false");
    assert_eq!(
        statements.last().map(String::as_str),
        Some("RESET check_function_bodies")
    );
    // Other languages (and BEGIN ATOMIC bodies) need no wrapper.
    let plpgsql = function(
        "g",
        "CREATE OR REPLACE FUNCTION public.g(a integer)\n RETURNS integer\n LANGUAGE plpgsql\n\
         AS $function$ BEGIN RETURN a; END $function$",
    );
    let to = Schema {
        functions: vec![plpgsql],
        ..Schema::default()
    };
    let statements = render(&diff(&Schema::default(), &to));
    assert_eq!(statements.len(), 1);
}

#[test]
fn atomic_function_reading_a_table_comes_after_it_and_goes_before_it() {
    let atomic = function(
        "a_reader",
        "CREATE OR REPLACE FUNCTION public.a_reader(a integer)\n RETURNS bigint\n \
         LANGUAGE sql\nBEGIN ATOMIC\n SELECT count(*) AS count\n    FROM public.z_table;\nEND",
    );
    let to = Schema {
        functions: vec![atomic],
        ..with_tables(vec![table("public", "z_table", vec![col("id", "integer")])])
    };
    let up = sql(&Schema::default(), &to);
    assert!(up[0].starts_with("CREATE TABLE public.z_table"), "{up:?}");
    assert!(up[1].contains("FUNCTION public.a_reader"), "{up:?}");
    let down = sql(&to, &Schema::default());
    assert_eq!(
        down,
        vec![
            "DROP FUNCTION public.a_reader(a integer)",
            "DROP TABLE \"public\".\"z_table\""
        ]
    );
}

fn domain(name: &str, base_type: &str) -> Domain {
    Domain {
        name: QualifiedName::new("public", name),
        base_type: base_type.to_string(),
        collation: None,
        default: None,
        not_null: false,
        checks: Vec::new(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

#[test]
fn types_over_types_follow_their_references_not_their_names() {
    let to = Schema {
        domains: vec![
            domain("a_outer", "public.z_inner"),
            domain("z_inner", "integer"),
        ],
        ..Schema::default()
    };
    let up = sql(&Schema::default(), &to);
    assert!(up[0].starts_with("CREATE DOMAIN public.z_inner"), "{up:?}");
    assert!(up[1].starts_with("CREATE DOMAIN public.a_outer"), "{up:?}");
    let down = sql(&to, &Schema::default());
    assert_eq!(
        down,
        vec!["DROP DOMAIN public.a_outer", "DROP DOMAIN public.z_inner"]
    );
}

#[test]
fn a_partition_lists_only_what_differs_from_its_parent() {
    let mut parent = table(
        "public",
        "events",
        vec![col("id", "bigint"), col("at", "date")],
    );
    parent.columns[1].not_null = true;
    parent.columns[0].default = Some("0".to_string());
    parent.partition_key = Some("RANGE (at)".to_string());
    let mut child = parent.clone();
    child.name = QualifiedName::new("public", "a_events_2026");
    child.partition_key = None;
    child.partition_of = Some(crate::catalog::PartitionOf {
        parent: parent.name.clone(),
        bound: "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')".to_string(),
    });
    let mut plain = child.clone();
    plain.name = QualifiedName::new("public", "events_2027");
    plain.partition_of = Some(crate::catalog::PartitionOf {
        parent: parent.name.clone(),
        bound: "DEFAULT".to_string(),
    });
    child.columns[0].default = None;
    child.columns[0].not_null = true;
    let to = with_tables(vec![child, parent, plain]);
    let up = sql(&Schema::default(), &to);
    assert!(up[0].starts_with("CREATE TABLE public.events ("), "{up:?}");
    assert_eq!(
        up[1],
        "CREATE TABLE public.a_events_2026 PARTITION OF public.events (\n    \
         id WITH OPTIONS DEFAULT NULL NOT NULL\n) FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
    );
    assert_eq!(
        up[2],
        "CREATE TABLE public.events_2027 PARTITION OF public.events DEFAULT"
    );
    // Partitions go with their parent.
    assert_eq!(
        sql(&to, &Schema::default()),
        vec!["DROP TABLE \"public\".\"events\""]
    );
}

#[test]
fn reference_order_keeps_independent_changes_in_place() {
    let add = |name: &str, base: &str| Change::CreateObject {
        kind: ObjectKind::Domain,
        name: format!("public.{name}"),
        statements: vec![format!("CREATE DOMAIN public.{name} AS {base}")],
    };
    let to = Schema {
        domains: ["b", "c", "a", "d"]
            .iter()
            .map(|n| domain(n, "integer"))
            .collect(),
        ..Schema::default()
    };
    let defs = order::definitions(&to);
    // b uses a; c is independent; d naming itself is no dependency.
    let changes = vec![
        add("b", "public.a"),
        add("c", "integer"),
        add("a", "integer"),
        add("d", "public.d"),
    ];
    let names: Vec<String> = order::reference_order(changes, |c| order::created_object(c, &defs))
        .into_iter()
        .map(|c| match c {
            Change::CreateObject { name, .. } => name,
            _ => String::new(),
        })
        .collect();
    assert_eq!(names, ["public.c", "public.a", "public.b", "public.d"]);
}
