//! Unit tests for the pure parts: sorting and rendering of hand-built models.

use super::*;

fn column(name: &str, data_type: &str) -> Column {
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

fn table(schema: &str, name: &str) -> Table {
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
        columns: vec![column("id", "integer")],
        constraints: Vec::new(),
        comment: None,
        owner: None,
        acl: Vec::new(),
    }
}

#[test]
fn renders_a_hand_built_table() {
    let mut t = table("app", "User Data");
    t.unlogged = true;
    t.columns[0].not_null = true;
    t.columns[0].identity = Some(Identity {
        always: true,
        sequence: QualifiedName::new("app", "User Data_id_seq"),
        options: SequenceOptions {
            data_type: "integer".to_string(),
            start: 100,
            increment: 1,
            min: 1,
            max: i32::MAX as i64,
            cache: 1,
            cycle: false,
        },
    });
    let mut name = column("select", "text");
    name.collation = Some("\"C\"".to_string());
    name.default = Some("'x'::text".to_string());
    name.comment = Some("it's the name".to_string());
    t.columns.push(name);
    t.constraints.push(Constraint {
        name: "pk".to_string(),
        kind: ConstraintKind::PrimaryKey,
        definition: "PRIMARY KEY (id)".to_string(),
        deferrable: false,
        initially_deferred: false,
        validated: true,
        comment: None,
    });
    t.options = vec!["fillfactor=80".to_string()];
    t.row_security = true;
    t.owner = Some("Owner".to_string());
    t.acl = vec!["=r/Owner".to_string(), "bob=a*r/Owner".to_string()];
    let schema = Schema {
        tables: vec![t],
        ..Schema::default()
    };
    assert_eq!(
        schema.to_text(),
        "CREATE UNLOGGED TABLE app.\"User Data\" (\n    \
         id integer GENERATED ALWAYS AS IDENTITY (START WITH 100) NOT NULL,\n    \
         \"select\" text COLLATE \"C\" DEFAULT 'x'::text,\n    \
         CONSTRAINT pk PRIMARY KEY (id)\n\
         ) WITH (fillfactor=80);\n\
         ALTER TABLE app.\"User Data\" ENABLE ROW LEVEL SECURITY;\n\
         COMMENT ON COLUMN app.\"User Data\".\"select\" IS 'it''s the name';\n\
         ALTER TABLE app.\"User Data\" OWNER TO \"Owner\";\n\
         GRANT SELECT ON TABLE app.\"User Data\" TO PUBLIC;\n\
         GRANT SELECT ON TABLE app.\"User Data\" TO bob;\n\
         GRANT INSERT ON TABLE app.\"User Data\" TO bob WITH GRANT OPTION;\n"
    );
}

#[test]
fn blocks_are_separated_by_one_blank_line_in_kind_order() {
    let schema = Schema {
        schemas: vec![SchemaDef {
            name: "app".to_string(),
            comment: None,
            owner: None,
            acl: Vec::new(),
        }],
        tables: vec![table("app", "a"), table("app", "b")],
        sequences: vec![Sequence {
            name: QualifiedName::new("app", "s"),
            options: SequenceOptions {
                data_type: "bigint".to_string(),
                start: -1,
                increment: -1,
                min: i64::MIN,
                max: -1,
                cache: 1,
                cycle: false,
            },
            owned_by: None,
            comment: None,
            owner: None,
            acl: Vec::new(),
        }],
        ..Schema::default()
    };
    let text = schema.to_text();
    let blocks: Vec<&str> = text.trim_end().split("\n\n").collect();
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks[0], "CREATE SCHEMA app;");
    assert!(blocks[1].starts_with("CREATE SEQUENCE app.s\n    AS bigint\n    START WITH -1"));
    assert!(blocks[2].starts_with("CREATE TABLE app.a ("));
    assert!(blocks[3].starts_with("CREATE TABLE app.b ("));
    assert!(text.ends_with(");\n"));
    assert_eq!(Schema::default().to_text(), "");
    let counts: std::collections::HashMap<_, _> = schema.counts().into_iter().collect();
    assert_eq!(counts["tables"], 2);
    assert_eq!(counts["sequences"], 1);
}
