//! `embed_migrations!`: reads a versions directory at compile time, checks every
//! revision file against `retort.sum`, and expands to a
//! `retort::embed::EmbeddedMigrations` holding the files' text.
//!
//! Use it through the `retort` crate (`retort::embed_migrations!`), which documents
//! it. No `syn`/`quote`: the input is one string literal and the output a few lines
//! of code, so the macro stays cheap to build.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proc_macro::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use retort_sum::{Checksum, SumLine};

/// Embeds the revisions of a versions directory (relative to the crate's
/// `Cargo.toml`), refusing to build when `retort.sum` disagrees with the files.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(code) => code,
        Err((span, message)) => compile_error(span, &message),
    }
}

type Failure = (Span, String);

fn expand(input: TokenStream) -> Result<TokenStream, Failure> {
    let (relative, span) = directory_argument(input)?;
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            (
                span,
                "CARGO_MANIFEST_DIR is not set; build with cargo".to_owned(),
            )
        })?;
    let dir = manifest_dir.join(&relative);
    let files = read_revision_files(&dir, &relative).map_err(|m| (span, m))?;
    let sum_path = dir.join(retort_sum::SUM_FILE_NAME);
    let sum_text = std::fs::read_to_string(&sum_path).map_err(|e| {
        (
            span,
            format!(
                "cannot read {relative}/{}: {e}; `retort rehash` writes it from the revision files",
                retort_sum::SUM_FILE_NAME
            ),
        )
    })?;
    let problems = compare(&relative, &files, &sum_text);
    if !problems.is_empty() {
        return Err((
            span,
            format!(
                "{relative}/{} disagrees with the revision files:\n  {}\nan applied revision \
                 must not change: revert the edit, or record a deliberate one with \
                 `retort rehash` (`retort verify --files` shows the same list)",
                retort_sum::SUM_FILE_NAME,
                problems.join("\n  ")
            ),
        ));
    }
    generate(&relative, &files, &sum_path).map_err(|m| (span, m))
}

/// The macro's one argument: a plain string literal naming the directory.
fn directory_argument(input: TokenStream) -> Result<(String, Span), Failure> {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let usage = "expected one string literal naming the versions directory, relative to \
                 Cargo.toml, e.g. `embed_migrations!(\"versions\")`";
    let [TokenTree::Literal(literal)] = &tokens[..] else {
        let span = tokens.first().map_or_else(Span::call_site, TokenTree::span);
        return Err((span, usage.to_owned()));
    };
    let text = literal.to_string();
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.contains('\\') && !t.is_empty())
        .ok_or_else(|| (literal.span(), usage.to_owned()))?;
    Ok((inner.trim_end_matches('/').to_owned(), literal.span()))
}

/// A revision file read from the directory.
struct RevisionFile {
    name: String,
    path: PathBuf,
    id: String,
    checksum: Checksum,
}

fn read_revision_files(dir: &Path, relative: &str) -> Result<Vec<RevisionFile>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read the directory {relative}: {e}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read the directory {relative}: {e}"))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !retort_sum::is_revision_file_name(&name) || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {relative}/{name} as UTF-8 text: {e}"))?;
        let id = retort_sum::revision_id_of_file_name(&name)
            .ok_or_else(|| {
                format!(
                    "{relative}/{name}: the file name must begin with a revision id \
                     (`NNNN_hex12_slug.sql`); rename it, or move a file that is not a \
                     revision out of {relative}"
                )
            })?
            .to_owned();
        files.push(RevisionFile {
            checksum: Checksum::of_file_text(&text),
            name,
            path,
            id,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Every way the files differ from the recorded checksums, worded as
/// `retort verify --files` words them.
fn compare(relative: &str, files: &[RevisionFile], sum_text: &str) -> Vec<String> {
    let sum_name = retort_sum::SUM_FILE_NAME;
    let mut recorded = BTreeMap::new();
    let mut problems = Vec::new();
    for (index, line) in sum_text.lines().enumerate() {
        let at = format!("{relative}/{sum_name}:{}", index + 1);
        match SumLine::parse(line) {
            SumLine::Blank | SumLine::Heads(_) => {}
            SumLine::Entry { id, checksum } => {
                recorded.insert(id, checksum);
            }
            SumLine::ConflictMarker => problems.push(format!(
                "{at}: unresolved git conflict marker; run `retort rehash`, then \
                 `retort merge -m MESSAGE`"
            )),
            SumLine::Malformed => problems.push(format!(
                "{at}: malformed line `{}`; run `retort rehash`",
                line.trim()
            )),
        }
    }
    for file in files {
        match recorded.remove(file.id.as_str()) {
            None => problems.push(format!(
                "added:   {relative}/{} ({}) is not in {sum_name}",
                file.name, file.id
            )),
            Some(checksum) if checksum != file.checksum => problems.push(format!(
                "edited:  {relative}/{} ({}) changed since {sum_name} was written",
                file.name, file.id
            )),
            Some(_) => {}
        }
    }
    for id in recorded.keys() {
        problems.push(format!(
            "removed: {id} is in {sum_name} but its file is gone"
        ));
    }
    problems
}

/// `::retort::embed::EmbeddedMigrations::new(DIR, &[files...], SUM)`, each text by
/// `include_str!` so that cargo rebuilds (and the macro checks again) when a file
/// changes.
fn generate(
    relative: &str,
    files: &[RevisionFile],
    sum_path: &Path,
) -> Result<TokenStream, String> {
    let absolute = |path: &Path| {
        path.to_str()
            .map(|p| format!("{p:?}"))
            .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))
    };
    let mut entries = String::new();
    for file in files {
        let _ = write!(
            entries,
            "::retort::embed::EmbeddedFile::new({:?}, ::core::include_str!({})),",
            file.name,
            absolute(&file.path)?
        );
    }
    let code = format!(
        "::retort::embed::EmbeddedMigrations::new({relative:?}, &[{entries}], ::core::include_str!({}))",
        absolute(sum_path)?
    );
    code.parse()
        .map_err(|e| format!("internal error: generated code does not parse: {e}"))
}

/// `::core::compile_error!("message")` at `span`, so the error points at the macro's
/// argument.
fn compile_error(span: Span, message: &str) -> TokenStream {
    let mut literal = Literal::string(message);
    literal.set_span(span);
    let mut group = Group::new(
        Delimiter::Parenthesis,
        TokenStream::from(TokenTree::Literal(literal)),
    );
    group.set_span(span);
    let mut out: TokenStream = "::core::compile_error!".parse().unwrap_or_default();
    out.extend([TokenTree::Group(group)]);
    out
}
